"""The intake's refusals in the officer's language (kept in `intake.messages`, which the batch uses too)."""

from __future__ import annotations

from intake.messages import MESSAGES, intake_message

__all__ = ["MESSAGES", "intake_message"]
