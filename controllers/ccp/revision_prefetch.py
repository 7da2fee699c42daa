"""The start-up check's NSX revision search, run while the informers make their initial lists.

Why a process when it can be one: at 1,000 policies the search reads 14 pages (2 MB of JSON, about
80 ms of CPU) while the informers decode 7.5 MB of lists. In one interpreter the two take turns on
its lock however many cores the node has, and the search used to end about 0.15 s after the lists.
A child process searches on another core and hands back only the figures the check compares: a few
thousand short strings, unpickled in a few milliseconds.

Forking is safe only while the process has a single thread: a lock held by another thread at the
fork stays held forever in the child. That is the case where the adapter is set up, before the
manager starts anything; otherwise, and where ``os.fork`` does not exist, the search runs in a
thread of this process with the same interface. The child never writes on its parent's sockets (it
opens its own NSX connections), stops between pages once its parent is gone, is killed on
:meth:`RevisionPrefetch.cancel`, and is always reaped.
"""

from __future__ import annotations

import os
import pickle
import signal
import threading
from typing import Literal

from loguru import logger

from controllers.ccp.intent import NsxIntent, SearchCancelled
from controllers.ccp.source_digest import figure_texts

Texts = dict[str, dict[str, str]]
"""Figures text by kind and NSX path (:func:`controllers.ccp.source_digest.figure_texts`)."""
Mode = Literal["process", "thread"]


class RevisionSearchError(Exception):
    """The search failed (its cause, as text, when it ran in a child process)."""


class RevisionPrefetch:
    """One revision search, started at once; :meth:`result` waits for its figures."""

    def __init__(self, intent: NsxIntent, *, mode: Mode | None = None) -> None:
        """``mode`` defaults to ``"process"`` when this process may fork safely (see the module
        docstring), else ``"thread"``."""
        self.mode: Mode = mode or ("process" if _may_fork() else "thread")
        """Where the search runs."""
        self.child_pid: int | None = None
        """The searching process (process mode), until it is reaped."""
        self.child_usage: tuple[float, int] | None = None
        """(CPU seconds, peak RSS in KiB) of the searching process, once reaped: it is not in this
        process's own figures."""
        self._lock = threading.Lock()
        self._cancel = threading.Event()
        self._done = threading.Event()
        self._texts: Texts | None = None
        self._error: BaseException | None = None
        if self.mode == "process":
            try:
                self._start_process(intent)
                return
            except OSError as err:  # no process to spare (EAGAIN, ENOMEM): the search still runs
                logger.warning("cannot fork the NSX revision search ({}); running it in a thread", err)
                self.mode = "thread"
        threading.Thread(target=self._search_here, args=(intent,), name="nsx-revisions-prefetch",
                         daemon=True).start()

    def result(self, timeout: float | None = None) -> Texts:
        """The figures; raises :class:`SearchCancelled` after :meth:`cancel`, the search's error
        if it failed, and ``TimeoutError`` if it is still running after ``timeout`` seconds."""
        if not self._done.wait(timeout):
            raise TimeoutError("the NSX revision search is still running")
        if self._error is not None:
            raise self._error
        assert self._texts is not None
        return self._texts

    def cancel(self) -> None:
        """Stop the search (its answer is not needed): a thread stops after the page in flight, a
        child process is killed."""
        self._cancel.set()
        with self._lock:
            if self.child_pid is not None:
                try:
                    os.kill(self.child_pid, signal.SIGKILL)
                except ProcessLookupError:  # already gone; the collector reaps it
                    pass

    # -- in this process --------------------------------------------------------------------

    def _search_here(self, intent: NsxIntent) -> None:
        try:
            self._texts = figure_texts(intent.revisions(self._cancel))
        except BaseException as err:  # handed to whoever asks for the result
            self._error = err
        finally:
            self._done.set()

    # -- in a child process -----------------------------------------------------------------

    def _start_process(self, intent: NsxIntent) -> None:
        read_end, write_end = os.pipe()
        parent = os.getpid()
        try:
            pid = os.fork()
        except OSError:
            os.close(read_end)
            os.close(write_end)
            raise
        if pid == 0:  # the child: never returns
            os.close(read_end)
            _search_in_child(intent, write_end, parent)
        os.close(write_end)
        self.child_pid = pid
        threading.Thread(target=self._collect, args=(read_end, pid), name="nsx-revisions-prefetch",
                         daemon=True).start()

    def _collect(self, read_end: int, pid: int) -> None:
        """Read the child's answer to the end of the pipe, hand it over, then reap the child (which
        may still be logging out of NSX: nobody waits for that)."""
        try:
            with os.fdopen(read_end, "rb") as pipe:
                answer = pipe.read()
            if answer and not self._cancel.is_set():
                ok, value = pickle.loads(answer)  # our own child, through our own pipe
                if ok:
                    self._texts = value
                else:
                    self._error = RevisionSearchError(value)
                self._done.set()
            # Wait for the exit without reaping, so that cancel() never signals a recycled pid.
            os.waitid(os.P_PID, pid, os.WEXITED | os.WNOWAIT)
            with self._lock:
                _, status, usage = os.wait4(pid, 0)
                self.child_pid = None
            self.child_usage = (usage.ru_utime + usage.ru_stime, usage.ru_maxrss)
            logger.debug("NSX revision search process {} ended ({}): {:.3f} CPU-s, peak RSS {} KiB", pid,
                         _describe(status), *self.child_usage)
            if not self._done.is_set():
                self._error = (SearchCancelled("revision search cancelled") if self._cancel.is_set() else
                               RevisionSearchError(f"the revision search process ended without an answer "
                                                   f"({_describe(status)})"))
        except BaseException as err:
            if not self._done.is_set():
                self._error = err
        finally:
            self._done.set()


class _ParentGone:
    """A child's cancel flag: set once the process that forked it is gone (it was re-parented)."""

    def __init__(self, parent: int) -> None:
        self._parent = parent

    def is_set(self) -> bool:
        return os.getppid() != self._parent


def _search_in_child(intent: NsxIntent, write_end: int, parent: int) -> None:
    """The child's whole life: search, write one pickled ``(ok, figures or error text)``, exit
    without running the parent's exit handlers or flushing its buffers."""
    status = 1
    try:
        # Ctrl-C in a terminal signals the whole process group: the child just ends.
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        own = intent.transport.fresh()
        try:
            answer: tuple[bool, object] = (True, figure_texts(intent.revisions(_ParentGone(parent), via=own)))
        except SearchCancelled:
            return  # the parent is gone: nobody to answer
        except Exception as err:
            answer = (False, f"{type(err).__name__}: {err}")
        with os.fdopen(write_end, "wb") as pipe:
            pipe.write(pickle.dumps(answer, protocol=pickle.HIGHEST_PROTOCOL))
        status = 0
        own.close()  # after the answer: a session login is logged out, and nobody waits for it
    except BaseException as err:  # the child must reach os._exit whatever happens
        logger.debug("revision search process failed: {}", err)
    finally:
        os._exit(status)


def _may_fork() -> bool:
    return hasattr(os, "fork") and threading.active_count() == 1


def _describe(status: int) -> str:
    if os.WIFSIGNALED(status):
        return f"killed by signal {os.WTERMSIG(status)}"
    return f"exit status {os.waitstatus_to_exitcode(status)}"
