"""Deliveries and upkeep that run by themselves, on the worker's loops and the shared claim/lease queues:
template sync (``template_sync.py``); campaigns and schedules come here too."""
