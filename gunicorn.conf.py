"""gunicorn settings: gevent workers, configured from the environment through engine/env.py.

Nothing here imports Django or psycopg at module level: the gevent worker must patch the
standard library before psycopg picks its wait function (notes: serving-under-gevent, fact 1),
and `preload_app` stays off for the same reason (fact 2).
"""

from engine.env import server_settings

_server = server_settings()

bind = f"{_server['host']}:{_server['port']}"
wsgi_app = "engine.wsgi:application"
worker_class = "gevent"
workers = _server["workers"]
worker_connections = _server["worker_connections"]
timeout = _server["timeout"]
graceful_timeout = _server["graceful_timeout"]
keepalive = _server["keepalive"]
preload_app = False
loglevel = _server["log_level"]
accesslog = "-" if _server["access_log"] else None
access_log_format = '%(h)s "%(r)s" %(s)s %(b)s %(M)sms request_id=%({x-request-id}o)s'


def post_worker_init(worker):
    import psycopg.waiting

    if psycopg.waiting.wait.__name__ == "wait_c":
        worker.log.critical("psycopg was imported before gevent patched the worker; refusing to serve")
        raise SystemExit(3)

    from execution import wakeups, watchdog

    wakeups.start_listener()  # before serving: NOTIFYs sent while nobody listens are lost
    watchdog.start()  # closes the turns a dead predecessor left running

    from execution.llm import get_model

    try:
        get_model()  # imports the SDK and builds its client before serving: inside a request that stalls the worker
    except ValueError as invalid:
        worker.log.critical("%s", invalid)
        raise SystemExit(3)

    from engine.heap import freeze_startup_heap

    freeze_startup_heap()  # last: what start-up made is never scanned again


def worker_exit(server, worker):
    from execution import runner

    runner.drain(timeout=max(1, graceful_timeout - 5))

    from adminops import learning

    learning.drain(timeout=2)  # an unfinished batch is failed, so it does not hold the one-batch slot

    from assets import mcp_runtime

    mcp_runtime.shutdown(timeout=5)  # MCP sessions close and stdio servers end with the worker
