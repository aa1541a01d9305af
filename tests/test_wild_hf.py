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
    texts.write_text("\n".join(TEXTS) + "\n")  # 10 texts, padded per batch of 8: two batch lengths
    art = edgekit.compile(str(folder), eval_data=texts, out=tmp_path / "bert.edgekit")
    assert art.passed, art.parity.summary()
    inputs = {s["name"]: s["shape"] for s in art.manifest["signature"]["inputs"]}
    assert set(inputs) == {"input_ids", "attention_mask", "token_type_ids"}
    assert all(shape == ["batch", "sequence"] for shape in inputs.values())
    assert [s["name"] for s in art.manifest["signature"]["outputs"]] == ["logits"]
    assert art.parity.samples == len(TEXTS)  # every text, though their lengths differ


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


TEXTS = ["the cat sat", "a dog", "the cat sat on the mat", "then", "a dog ran far away and then slept",
         "the cat", "dog ran", "a", "the cat sat on the mat and then the dog ran far away", "slept"]


def test_text_data_is_padded_per_batch_and_grouped_by_length(tmp_path) -> None:
    """Each run of 8 texts is padded to its own longest (not the file's longest), and ``batches``
    stacks exactly those runs: [8 texts at 9 tokens, 2 texts at 15 tokens]."""
    from edgekit.data.datasource import DataSource
    from edgekit.data.sources import batches
    from edgekit.models.hf import text_records
    from edgekit.signature import TensorSpec

    folder = _tiny_bert_folder(tmp_path)
    path = tmp_path / "texts.txt"
    path.write_text("\n".join(TEXTS) + "\n\n")  # a blank line is no text
    names = ["input_ids", "attention_mask", "token_type_ids"]
    source = DataSource(lambda: text_records(path, folder, names), "texts")
    specs = [TensorSpec(n, ("batch", "sequence"), "int64") for n in names]
    got = list(batches(source, specs, 8))
    lengths = [len(t.split()) + 2 for t in TEXTS]  # [CLS] text [SEP]: one token per word here
    assert [b.samples for b in got] == [8, 2]
    assert [b.feed["input_ids"].shape for b in got] == [(8, max(lengths[:8])), (2, max(lengths[8:]))]
    assert max(lengths[:8]) < max(lengths)  # the first batch is not padded to the file's longest
    for batch, chunk in zip(got, (lengths[:8], lengths[8:])):
        assert batch.feed["attention_mask"].sum(axis=1).tolist() == chunk  # padding is masked out
