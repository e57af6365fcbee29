"""The ledger's tests: the contract every backend passes, and the DuckDB backend's own.

A package so that ``tests/ledger/conftest.py`` is imported as ``ledger.conftest`` and never
shadows ``tests/conftest.py``, which the test modules import by name (``from conftest import …``).
"""
