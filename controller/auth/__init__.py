"""Authentication: accounts, access keys, SigV4 verification and secrets at rest."""
