"""Operational tickets, opened by people or by failed jobs, with SLA due dates."""
