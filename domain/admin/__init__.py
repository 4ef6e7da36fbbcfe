"""What admins do that no one else may: manage accounts, read every user's commerce records,
refund any order. Services here never commit (the request owns the transaction)."""
