"""Starting an aiohttp site the way both fake origins (the API and its storage) need it."""

from __future__ import annotations

from typing import Final

from aiohttp import web

__all__ = ["serve"]

# A backstop only: close() wakes every handler that is sleeping on purpose.
SHUTDOWN_TIMEOUT: Final = 2.0


async def serve(app: web.Application, host: str, port: int) -> tuple[web.AppRunner, str]:
    """Serve ``app`` on ``host:port`` (0: a free port); the runner and ``http://host:port``."""
    runner = web.AppRunner(
        app,
        access_log=None,
        handle_signals=False,
        shutdown_timeout=SHUTDOWN_TIMEOUT,
        # A client that hangs up (a timeout, a cancelled task) ends its handler at once, as
        # it would end the work on a real server: in_flight drops, and the record shows
        # when the client gave up.
        handler_cancellation=True,
    )
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port).start()
    except BaseException:
        await runner.cleanup()
        raise
    bound = runner.addresses[0][1]
    shown = f"[{host}]" if ":" in host else host
    return runner, f"http://{shown}:{bound}"
