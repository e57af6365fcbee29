"""Shaping facts into answers: the bounded summary, expansions, Markdown, Scenario's wire format.

Nothing here runs SQL: every figure comes from ``Ledger.facts`` / ``Ledger.activity``.
"""
