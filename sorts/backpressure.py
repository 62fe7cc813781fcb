"""An optional bound on offloaded work in flight in one server process."""

from django.conf import settings


class InFlightLimit:
    """Count offloaded jobs; refuse new ones once `limit` are in flight.

    Used only from the event loop's thread, so a plain counter is safe.
    A limit of 0 means no bound.
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.in_flight = 0

    def try_acquire(self) -> bool:
        if self.limit and self.in_flight >= self.limit:
            return False
        self.in_flight += 1
        return True

    def release(self) -> None:
        self.in_flight -= 1


_limit: InFlightLimit | None = None


def in_flight_limit() -> InFlightLimit:
    """The process-wide limit, created from settings on first use."""
    global _limit
    if _limit is None or _limit.limit != settings.ASYNCPROJ_MAX_IN_FLIGHT:
        _limit = InFlightLimit(settings.ASYNCPROJ_MAX_IN_FLIGHT)
    return _limit
