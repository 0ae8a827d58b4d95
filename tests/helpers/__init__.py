"""What the tests share; fixtures live in ``tests/conftest.py``.

- :mod:`tests.helpers.modules`: small ``nn.Module`` classes and brick builders (the README's among them);
- :mod:`tests.helpers.tensors`: seeded random tensors and tensor comparisons;
- :mod:`tests.helpers.configs`: small model configs and batches of the assembly, model-folder and CLI tests;
- :mod:`tests.helpers.packs`: brick packs pip-installed into throwaway virtual environments.
"""
