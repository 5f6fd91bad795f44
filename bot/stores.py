"""The store row mirrors the store file, so reports and joins can name the store."""

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.models import Market, Store
from bot.store_config import StoreConfig


async def sync_store(
    session: AsyncSession, config: StoreConfig, *, timezone: str, advisor_chat_id: int | None
) -> Store:
    """Create or update the store row from the store file; returns it."""
    identity = config.store
    store = await session.scalar(select(Store).where(Store.code == identity.code))
    if store is None:
        store = Store(code=identity.code)
        session.add(store)
    store.name = identity.name.en
    store.address = identity.address.en if identity.address else None
    store.phone = identity.phone
    store.timezone = timezone
    store.market = Market(identity.market)
    store.advisor_chat_id = advisor_chat_id
    await session.flush()
    return store
