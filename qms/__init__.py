"""qms — the project and the shared core (组织、人员、权限范围、留痕台账)."""
from .celery import app as celery_app

__all__ = ["celery_app"]
