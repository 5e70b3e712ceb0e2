"""The relay's in-process world (moto + scripted FoxReload and storefront), for the commands
that act on orders the relay itself delivered (`redeliver`, `show --ref`)."""

from tests.unit.service.conftest import world  # noqa: F401 - the fixture
