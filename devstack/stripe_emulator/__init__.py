"""A local Stripe: the emulator that the real `stripe` client talks to (development and tests).

Checkout Sessions with a hosted payment page, PaymentIntents, Charges, Refunds and Events over
Stripe's wire protocol (`wire`), idempotency (`idempotency`), signed webhooks with retries
(`webhooks`, `events`), fault knobs (`faults`) and a control API (`control`). One module per
concern: `store` (state, persistence), `objects` (JSON shapes), `checkout`, `payments`,
`cards`, `money`, `expand`, `api` (`/v1`), `page` (the payment page), `app` (wiring),
`__main__` (the CLI). The service's own code never imports it.
"""
