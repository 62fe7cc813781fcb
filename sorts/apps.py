from django.apps import AppConfig


class SortsConfig(AppConfig):
    name = "sorts"

    def ready(self) -> None:
        _drop_database_signal_receivers()


def _drop_database_signal_receivers() -> None:
    # The lab has no database, yet django.db connects sync receivers to the
    # request signals; under ASGI each of them costs a hop to a thread for
    # every request. Without a database they have nothing to do.
    from django.core import signals
    from django.db import close_old_connections, reset_queries

    signals.request_started.disconnect(reset_queries)
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
