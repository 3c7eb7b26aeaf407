"""Signals the core sends so higher packages can react without the core importing them.

``member_event_recorded`` is sent inside the transaction that records a ``MemberEvent``
(a transfer, a retirement …); receivers (the scheduler) write in the same transaction.
"""
from django.dispatch import Signal

member_event_recorded = Signal()  # kwargs: event
