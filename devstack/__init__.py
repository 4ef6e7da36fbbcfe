"""The local stack for `make dev` and the tests: Postgres, Redis, Temporal, an SMTP sink, Stripe.

One module per service, each with its `start_*` function: `postgres` (binaries chosen by
`postgres_binaries`), `redis`, `temporal`, `smtp` (the sink itself is `smtp_sink`), `stripe`
(the emulator itself is the `stripe_emulator` package). They share `ports`, the `Service` handle
(`service`) and process spawning (`process`). `python -m devstack up` (`__main__`) runs the whole
stack: `stack` orchestrates, `config` reads the environment, `console` prints.
"""
