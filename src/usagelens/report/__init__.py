"""Shaping facts into answers: the bounded summary, expansions, Markdown, Scenario's wire format.

Nothing here runs SQL: every figure comes from ``UsageReader.facts`` / ``UsageReader.activity``.
"""
