"""Workflows: deterministic orchestration of each contract's life; they decide when, never write."""

from workflows.contract import ContractWorkflow, workflow_id

__all__ = ["ContractWorkflow", "workflow_id"]
