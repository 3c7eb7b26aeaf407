"""Signals the core sends so higher packages can react without the core importing them.

``member_event_recorded`` is sent inside the transaction that records a ``MemberEvent``
(a transfer, a retirement …); receivers (the scheduler) write in the same transaction.

``delivery_ready`` is sent after the commit that wrote a ``Delivery`` (邮件 or a group robot's
message, qms/channels.py); its receiver in ``qms.tasks`` queues the sending.
"""
from django.dispatch import Signal

member_event_recorded = Signal()  # kwargs: event
delivery_ready = Signal()  # kwargs: delivery_id
