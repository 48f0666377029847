"""One alert leader among several backends on one store: a lease kept in ClickHouse.

ClickHouse has no compare-and-set, so the lease is a log of claims. A lease has terms; the
first claim of a term (by the server's clock: the row's `at`) is its holder, who renews it by
adding rows with a later expiry. When the newest term has expired, any backend may claim the
next one; it waits `settle` seconds, reads again, and leads only if its claim is the first of
that term: every backend reads the same rows, so they agree on one holder. A holder that
cannot renew stops leading when its lease runs out by its own clock, before anyone else may
take it over (docs/scale.md).
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from hlog.backend.store import Store

log = logging.getLogger(__name__)

DEFAULT_LEASE_SECONDS = 15.0
ALERTS = "alerts"


def holder_name() -> str:
    """This process, recognisably: host, pid and a random part."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


@dataclass(frozen=True)
class Term:
    """The newest term of a lease as the store has it."""

    number: int
    holder: str
    expires_ms: int
    now_ms: int  # the server's clock when it was read


class Lease:
    """A named lease on a store; keep() is called about once a second by the one who wants it."""

    def __init__(self, store: Store, name: str = ALERTS, seconds: float = DEFAULT_LEASE_SECONDS) -> None:
        self.store = store
        self.name = name
        self.seconds = seconds
        self.holder = holder_name()
        self.settle = min(1.0, seconds / 4)
        self._valid_until = 0.0  # by this process's monotonic clock
        self._renewed = 0.0
        self._announced = False  # what the log last said: leading or not

    @property
    def held(self) -> bool:
        """True while this process holds the lease (by its own clock, with a margin)."""
        return time.monotonic() < self._valid_until

    def read(self) -> Term | None:
        rows = self.store.query(
            f"SELECT term, holder, expires_ms, toUnixTimestamp64Milli(now64(3)) FROM {self.store.db}.hlog_leases "
            "WHERE name = {n:String} AND term = (SELECT max(term) FROM "
            f"{self.store.db}.hlog_leases WHERE name = {{n:String}}) ORDER BY at, holder",
            {"n": self.name},
            reads_ingest=False,
        )
        if not rows:
            return None
        number, first = int(rows[0][0]), str(rows[0][1])
        expires = max(int(r[2]) for r in rows if r[1] == first)
        return Term(number, first, expires, int(rows[0][3]))

    def _write(self, term: int) -> None:
        self.store.command(
            f"INSERT INTO {self.store.db}.hlog_leases (name, term, holder, expires_ms) "
            "SELECT {n:String}, {t:UInt64}, {h:String}, toUnixTimestamp64Milli(now64(3)) + {ms:Int64}",
            {"n": self.name, "t": term, "h": self.holder, "ms": int(self.seconds * 1000)},
        )

    def keep(self) -> bool:
        """Renew the lease when held, claim it when free; True when this process holds it now.
        (Blocking: run it in a thread. A store error means not holding it, once it runs out.)"""
        started = time.monotonic()
        try:
            term = self.read()
            if term is not None and term.holder == self.holder and term.now_ms < term.expires_ms:
                if started - self._renewed >= self.seconds / 3:
                    self._write(term.number)
                    self._renewed = started
                    self._valid_until = started + self.seconds * 0.9
                return self._changed()
            if term is not None and term.now_ms < term.expires_ms:
                self._valid_until = 0.0
                return self._changed()
            claimed = (term.number if term else 0) + 1
            self._write(claimed)
            time.sleep(self.settle)  # every claim of this term is in the store by now
            now = self.read()
            if now is not None and now.number == claimed and now.holder == self.holder:
                self._renewed = started
                self._valid_until = started + self.seconds * 0.9
            else:
                self._valid_until = 0.0
        except Exception as err:  # the store is down: hold on only while the lease lasts
            log.debug("lease %s: %s", self.name, err)
        return self._changed()

    def _changed(self) -> bool:
        now = self.held
        if now != self._announced:  # (a lease may also run out between two calls)
            self._announced = now
            log.info("alerts: this backend %s", "evaluates the rules now" if now else "no longer evaluates the rules")
        return now

    def release(self) -> None:
        """Let another take over at once (a clean stop): open a new term that has already expired."""
        if not self.held:
            return
        self._valid_until = 0.0
        try:
            term = self.read()
            if term is not None and term.holder == self.holder:
                self.store.command(
                    f"INSERT INTO {self.store.db}.hlog_leases (name, term, holder, expires_ms) "
                    "VALUES ({n:String}, {t:UInt64}, '', 0)",
                    {"n": self.name, "t": term.number + 1},
                )
        except Exception as err:
            log.debug("lease %s: release failed: %s", self.name, err)
