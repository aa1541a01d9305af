"""The bundled example: a small CNN trained on scikit-learn's handwritten digits."""
