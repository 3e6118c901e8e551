"""Runbook steps: each is data plus inspect / plan / apply / verify."""
