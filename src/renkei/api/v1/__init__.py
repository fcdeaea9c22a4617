"""The management API under ``/api/v1``. Each feature registers its router with the hub."""
