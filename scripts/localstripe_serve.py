#!/usr/bin/env python3
"""Run localstripe (the fake Stripe API) for tests: in memory, on 127.0.0.1 only.

Usage:
    .venv/bin/python scripts/localstripe_serve.py --port 0 [--log] [--seed S] [--exit-with-parent]

Prints exactly one line on stdout, ``LISTENING <port>``, once the socket accepts connections
(``--port 0`` picks a free port), then nothing else on stdout. Exits 0 on SIGTERM/SIGINT.

Differences from ``localstripe --port N`` (see shared/specs/API-FACTS.md, "localstripe 1.15.10"):
  * binds 127.0.0.1 only (localstripe's own start() binds ``::`` = all interfaces);
  * never reads or writes /tmp/localstripe.pickle: localstripe's ``Store`` (a dict subclass in
    localstripe/resources.py) calls ``dump_to_disk()`` from ``__setitem__``/``__delitem__`` and
    server.py's ``save_store_middleware`` calls it after every POST/PUT/DELETE, and
    ``start()`` calls ``try_load_from_disk()``. Both methods are replaced with no-ops on the
    class before any request is served, so each process has its own store and two instances
    cannot clobber each other;
  * no access log unless ``--log`` (to stderr). A parent that pipes stderr without reading it
    would otherwise block the server once the pipe fills;
  * with ``--exit-with-parent`` it exits by itself once its parent process is gone (checked
    every 0.5 s), so a test process that is killed (e.g. nextest's timeout) does not leak the
    server. Test harnesses should pass it; it is off by default so that a server started in
    the background from a shell that then exits keeps running;
  * ``--seed S`` seeds the ``random`` module localstripe draws object ids from, so a run that
    sends the same requests in the same order gets the same ids.
"""

import os

# Taken before anything slow (imports of aiohttp/localstripe take ~1 s): the parent may exit
# during that time, and --exit-with-parent must still notice.
_PARENT_PID = os.getppid()

import argparse  # noqa: E402
import asyncio  # noqa: E402
import logging  # noqa: E402
import signal  # noqa: E402
import socket  # noqa: E402
import sys  # noqa: E402


def patch_localstripe_persistence():
    from localstripe import resources

    def _no_load(self):
        return None

    def _no_dump(self):
        return None

    resources.Store.try_load_from_disk = _no_load
    resources.Store.dump_to_disk = _no_dump
    # server.py's save_store_middleware calls store.dump_to_disk(): resolved on the class, so
    # covered by the patch above. Assert that it really is (a future version could bind it
    # differently).
    assert resources.store.dump_to_disk.__func__ is _no_dump


async def serve(port: int, log: bool, watch_parent: bool) -> int:
    patch_localstripe_persistence()
    from aiohttp import web
    from localstripe.server import app

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    sock.listen(128)
    sock.setblocking(False)
    bound_port = sock.getsockname()[1]

    access_log = None
    if log:
        access_log = logging.getLogger("aiohttp.access")
        access_log.setLevel(logging.DEBUG)
        handler = logging.StreamHandler(sys.stderr)
        access_log.addHandler(handler)
        # localstripe logs webhook delivery results on the same logger.
    runner = web.AppRunner(app, access_log=access_log, handle_signals=False)
    await runner.setup()
    site = web.SockSite(runner, sock)
    await site.start()

    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)

    sys.stdout.write(f"LISTENING {bound_port}\n")
    sys.stdout.flush()

    async def parent_watch(ppid: int):
        while True:
            await asyncio.sleep(0.5)
            if os.getppid() != ppid:
                if log:
                    print("localstripe_serve: parent exited, stopping", file=sys.stderr)
                stop.set()
                return

    watcher = None
    if watch_parent:
        watcher = asyncio.ensure_future(parent_watch(_PARENT_PID))

    await stop.wait()
    if watcher is not None:
        watcher.cancel()
    await runner.cleanup()
    # Drop pending webhook deliveries (localstripe schedules them with ensure_future).
    pending = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
    for t in pending:
        t.cancel()
    await asyncio.gather(*pending, return_exceptions=True)
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--port", type=int, required=True, help="TCP port on 127.0.0.1; 0 = any free port")
    ap.add_argument("--log", action="store_true", help="access log + webhook delivery log on stderr")
    ap.add_argument("--seed", type=int, default=None, help="seed localstripe's id generator")
    ap.add_argument("--exit-with-parent", dest="watch_parent", action="store_true",
                    help="stop when the parent process exits (for test harnesses)")
    args = ap.parse_args()
    if not 0 <= args.port <= 65535:
        ap.error("--port must be 0..65535")
    if args.seed is not None:
        import random
        random.seed(args.seed)
    return asyncio.run(serve(args.port, args.log, args.watch_parent))


if __name__ == "__main__":
    sys.exit(main())
