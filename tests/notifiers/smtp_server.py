"""A real SMTP server (aiosmtpd) for Onboard's notifier tests.

Every accepted message is written to SPOOL/NNNNNN.eml (raw bytes, as received after DATA) with
SPOOL/NNNNNN.json beside it (envelope sender, recipients, authenticated login); the .json is
written first and each file appears atomically, so a reader that sees the .eml sees both.

Prints "LISTENING <port>" on stdout once it accepts connections, then serves until killed.
"""

import argparse
import asyncio
import json
import os
import ssl
import sys

from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword


class Spool:
    def __init__(self, directory, reject_rcpt, tempfail, implicit_tls):
        self.directory = directory
        self.implicit_tls = implicit_tls
        self.reject_rcpt = reject_rcpt
        self.tempfail = tempfail
        self.count = 0

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if self.reject_rcpt and self.reject_rcpt in address:
            return "550 5.1.1 No such mailbox"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        if self.tempfail:
            return "451 4.3.0 Please try again later"
        self.count += 1
        base = os.path.join(self.directory, f"{self.count:06d}")
        auth = session.auth_data if session.authenticated else None
        login = auth.login.decode() if isinstance(auth, LoginPassword) else None
        meta = {
            "mailFrom": envelope.mail_from,
            "rcptTos": envelope.rcpt_tos,
            "login": login,
            "tls": self.implicit_tls or session.ssl is not None,
        }
        write_atomically(base + ".json", json.dumps(meta).encode())
        write_atomically(base + ".eml", envelope.original_content)
        return "250 2.0.0 Queued"


def write_atomically(path, data):
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


def authenticator(user, password):
    def check(server, session, envelope, mechanism, auth_data):
        ok = (
            isinstance(auth_data, LoginPassword)
            and auth_data.login == user.encode()
            and auth_data.password == password.encode()
        )
        return AuthResult(success=ok, handled=False, auth_data=auth_data if ok else None)

    return check


async def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--spool", required=True)
    parser.add_argument("--tls", choices=["none", "starttls", "tls"], default="none")
    parser.add_argument("--cert")
    parser.add_argument("--key")
    parser.add_argument("--user")
    parser.add_argument("--password")
    parser.add_argument("--exclude-mechanism", action="append", default=[])
    parser.add_argument("--reject-rcpt")
    parser.add_argument("--tempfail", action="store_true")
    args = parser.parse_args()

    context = None
    if args.tls != "none":
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(args.cert, args.key)

    handler = Spool(args.spool, args.reject_rcpt, args.tempfail, args.tls == "tls")
    options = {"hostname": "onboard-test-smtp"}
    if args.user:
        options.update(
            authenticator=authenticator(args.user, args.password),
            auth_required=True,
            # aiosmtpd only counts STARTTLS as TLS; an implicit-TLS socket is encrypted anyway.
            auth_require_tls=args.tls == "starttls",
            auth_exclude_mechanism=args.exclude_mechanism,
        )
    if args.tls == "starttls":
        options.update(tls_context=context, require_starttls=True)

    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: SMTP(handler, **options),
        host="127.0.0.1",
        port=args.port,
        ssl=context if args.tls == "tls" else None,
    )
    port = server.sockets[0].getsockname()[1]
    print(f"LISTENING {port}", flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        sys.exit(0)
