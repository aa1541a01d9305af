"""NVIDIA GPUs through TensorRT: availability probing, CUDA memory through cuda-python,
engine keys, the engine cache and engine building.

Every module here imports TensorRT and cuda-python lazily, inside the functions that
need them, so that a CPU-only host can import, list and probe without either.
"""
