"""Hugging Face forms (issue 14): a local model folder or a PreTrainedModel, no flags, no network."""

from __future__ import annotations

import pytest

transformers = pytest.importorskip("transformers")

import edgekit  # noqa: E402

WORDS = ["the", "cat", "sat", "on", "mat", "a", "dog", "ran", "far", "away", "and", "then", "slept"]


def _tiny_bert_folder(tmp_path):
    config = transformers.BertConfig(vocab_size=64, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                                     intermediate_size=37, max_position_embeddings=64, num_labels=3)
    transformers.set_seed(0)
    folder = tmp_path / "tiny-bert"
    transformers.BertForSequenceClassification(config).save_pretrained(folder)
    vocab = {w: i for i, w in enumerate(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *WORDS])}
    transformers.BertTokenizer(vocab=vocab).save_pretrained(folder)
    return folder


@pytest.mark.slow
def test_bert_folder_compiles_with_derived_inputs_and_text_eval(tmp_path) -> None:
    folder = _tiny_bert_folder(tmp_path)
    texts = tmp_path / "texts.txt"
    texts.write_text("the cat sat on the mat\na dog ran far away\nthe cat slept\nthen the dog ran\n")
    art = edgekit.compile(str(folder), eval_data=texts, out=tmp_path / "bert.edgekit")
    assert art.passed, art.parity.summary()
    inputs = {s["name"]: s["shape"] for s in art.manifest["signature"]["inputs"]}
    assert set(inputs) == {"input_ids", "attention_mask", "token_type_ids"}
    assert all(shape == ["batch", "sequence"] for shape in inputs.values())
    assert [s["name"] for s in art.manifest["signature"]["outputs"]] == ["logits"]
    assert art.parity.samples == 4  # every text, though their lengths differ


@pytest.mark.slow
def test_vit_model_object_compiles_with_pixel_values(tmp_path) -> None:
    config = transformers.ViTConfig(image_size=32, patch_size=8, hidden_size=32, num_hidden_layers=2,
                                    num_attention_heads=2, intermediate_size=37, num_labels=4)
    transformers.set_seed(0)
    model = transformers.ViTForImageClassification(config)
    art = edgekit.compile(model, out=tmp_path / "vit.edgekit")
    assert art.passed, art.parity.summary()
    (spec,) = art.manifest["signature"]["inputs"]
    assert spec["name"] == "pixel_values" and spec["shape"] == ["batch", 3, 32, 32]
    assert [s["name"] for s in art.manifest["signature"]["outputs"]] == ["logits"]
