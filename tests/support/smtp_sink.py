"""A real SMTP server for pagerd's tests (aiosmtpd): stores every message it receives as
DIR/<n>.eml and prints "PORT <n>" once listening.

    python3 smtp_sink.py DIR [--tls CERT KEY | --implicit-tls CERT KEY] [--auth USER:PASSWORD]

--tls offers STARTTLS and requires it before MAIL; --implicit-tls speaks TLS from the first
byte (port-465 style); --auth requires that login.
"""

import asyncio
import itertools
import os
import ssl
import sys

from aiosmtpd.smtp import SMTP, AuthResult


class Store:
    def __init__(self, directory):
        self.directory = directory
        self.counter = itertools.count(1)

    async def handle_DATA(self, server, session, envelope):
        n = next(self.counter)
        tmp = os.path.join(self.directory, f".{n}.tmp")
        with open(tmp, "wb") as f:
            f.write(f"X-Envelope-From: {envelope.mail_from}\r\n".encode())
            f.write(f"X-Envelope-To: {', '.join(envelope.rcpt_tos)}\r\n".encode())
            tls = session.ssl or server.transport.get_extra_info("ssl_object") is not None
            f.write(f"X-Tls: {'yes' if tls else 'no'}\r\n".encode())
            f.write(f"X-Auth: {session.authenticated or False}\r\n".encode())
            f.write(envelope.original_content or envelope.content)
        os.rename(tmp, os.path.join(self.directory, f"{n}.eml"))
        return "250 2.0.0 Ok: stored as message " + str(n)


async def serve(directory, mode, cert, login):
    kwargs = {}
    server_ssl = None
    if mode:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(*cert)
        if mode == "--tls":
            kwargs = {"tls_context": context, "require_starttls": True}
        else:
            server_ssl = context
    if login:
        user, password = login.split(":", 1)

        def authenticator(server, session, envelope, mechanism, auth_data):
            ok = auth_data.login == user.encode() and auth_data.password == password.encode()
            return AuthResult(success=ok)

        # aiosmtpd only knows STARTTLS as "TLS is on"; under implicit TLS every byte is
        # encrypted anyway, so it must not wait for a STARTTLS that never comes.
        kwargs.update(
            authenticator=authenticator,
            auth_required=True,
            auth_require_tls=mode == "--tls",
        )
    handler = Store(directory)
    loop = asyncio.get_running_loop()
    # Port 0: the kernel picks a free port, so parallel tests never collide.
    server = await loop.create_server(
        lambda: SMTP(handler, hostname="pagerd-test-smtp", **kwargs),
        "127.0.0.1",
        0,
        ssl=server_ssl,
    )
    port = server.sockets[0].getsockname()[1]
    print(f"PORT {port}", flush=True)
    # Until the test closes our stdin (or kills us).
    await loop.run_in_executor(None, sys.stdin.read)
    server.close()


def main():
    args = sys.argv[2:]
    mode, cert, login = None, None, None
    while args:
        if args[0] in ("--tls", "--implicit-tls"):
            mode, cert, args = args[0], args[1:3], args[3:]
        elif args[0] == "--auth":
            login, args = args[1], args[2:]
        else:
            sys.exit(f"unknown argument {args[0]}")
    asyncio.run(serve(sys.argv[1], mode, cert, login))


if __name__ == "__main__":
    main()
