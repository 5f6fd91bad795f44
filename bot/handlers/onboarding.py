"""Sign-up: greeting, privacy notice, the owner's own phone number, then marketing consent.

Flow `signup`, steps: phone -> consent. Only the sender's own contact is accepted (shared with
the contact button: contact.user_id equals the sender); a forwarded or typed number changes
nothing. The phone links the Telegram user to the store's record of that number, when there
is one (customers imported from the DMS), or completes the record made at /start. A /start
payload waits in the flow until sign-up is done, then opens.

Someone who writes instead of sharing a contact can still ask a person: the message goes to the
advisors like a signed-up owner's, and the first time the bot says so, with the number button.
"""

from telegram import InlineKeyboardMarkup, KeyboardButton, Message, ReplyKeyboardMarkup

from bot.callbacks import ButtonData
from bot.customers import link_phone, set_marketing_consent, signed_up
from bot.handlers import menu
from bot.handlers.turns import Turn
from bot.phones import country_for_market, normalise_phone

FLOW = "signup"


def contact_keyboard(turn: Turn) -> ReplyKeyboardMarkup:
    share = KeyboardButton(turn.label("button_share_phone"), request_contact=True)
    return ReplyKeyboardMarkup([[share]], resize_keyboard=True, is_persistent=True)


async def start(turn: Turn, first_name: str, payload: str | None) -> None:
    """/start: greet; a signed-up owner gets the menu (or what the link opens), others sign up."""
    store_name = turn.carebot.store.store.name.get(turn.locale)
    if not signed_up(turn.customer):
        turn.say("greeting", store_name=store_name, first_name=first_name)
        await ask_phone(turn, payload)
        return
    await turn.end()
    turn.say(
        "greeting", keyboard=menu.main_menu(turn), store_name=store_name, first_name=first_name
    )
    if payload:
        await menu.open_deep_link(turn, payload)


async def ask_phone(turn: Turn, payload: str | None) -> None:
    await turn.begin(FLOW, "phone", payload=payload)
    turn.say("signup_phone", keyboard=contact_keyboard(turn))


def for_advisors(turn: Turn, message: Message) -> bool:
    """A message from someone signing up that an advisor should read, not the sign-up.

    A contact, a typed phone number or a menu label is about signing up; so is anything sent
    before the greeting (and its privacy notice) has been shown.
    """
    if turn.carebot.relay is None or signed_up(turn.customer) or message.contact is not None:
        return False
    if not turn.flow.at(FLOW, "phone"):
        return False
    text = message.text or ""
    return not _looks_like_a_phone(turn, text) and not menu.menu_section(turn.carebot.render, text)


def _looks_like_a_phone(turn: Turn, text: str) -> bool:
    try:
        normalise_phone(text, country_for_market(turn.carebot.store.store.market))
    except ValueError:
        return False
    return True


async def pass_to_advisors(turn: Turn) -> None:
    """The relay takes the message; the first time, the owner hears where it went."""
    if turn.flow.at(FLOW, "phone") and turn.flow.data.get("relayed"):
        return
    payload = turn.flow.data.get("payload") if turn.flow.at(FLOW) else None
    await turn.begin(FLOW, "phone", payload=payload, relayed=True)
    turn.say("signup_message_relayed", keyboard=contact_keyboard(turn))


async def ask_consent(turn: Turn) -> None:
    await turn.go("consent")
    yes = turn.button(turn.label("button_consent_yes"), "consent", "yes")
    no = turn.button(turn.label("button_consent_no"), "consent", "no")
    turn.say("consent_question", keyboard=InlineKeyboardMarkup([[yes], [no]]))


async def on_message(turn: Turn, message: Message) -> None:
    """The contact (or anything else) while signing up."""
    payload = turn.flow.data.get("payload")
    if turn.flow.at(FLOW, "consent"):
        turn.notice("use_buttons")
        await ask_consent(turn)
        return
    contact = message.contact
    sender = message.from_user
    if contact is None:
        turn.notice("signup_use_button")
    elif sender is None or contact.user_id != sender.id:
        turn.notice("signup_foreign_contact")
    else:
        try:
            market = turn.carebot.store.store.market
            phone = normalise_phone(contact.phone_number, country_for_market(market))
        except ValueError:
            turn.notice("signup_bad_phone")
        else:
            await _signed_up(turn, phone)
            return
    await ask_phone(turn, payload)


async def _signed_up(turn: Turn, phone: str) -> None:
    before = turn.customer.id
    turn.customer = await link_phone(turn.session, turn.customer, phone=phone, now=turn.now)
    # Someone who wrote to the advisors before signing up: their topic shows who they are now.
    await turn.refresh_advisor_topic()
    turn.say(
        "signup_done",
        keyboard=menu.main_menu(turn),
        name=turn.customer.name or "",
        known=turn.customer.id != before,
    )
    await ask_consent(turn)


async def on_button(turn: Turn, data: ButtonData) -> None:
    """The marketing consent answer; then whatever the /start link asked for."""
    if data.action != "consent" or not signed_up(turn.customer):
        return
    consent = data.arg(0) == "yes"
    payload = turn.flow.data.get("payload")
    await set_marketing_consent(turn.session, turn.customer, consent=consent, now=turn.now)
    await turn.end()
    turn.say("consent_saved", consent=consent)
    if payload:
        await menu.open_deep_link(turn, payload)
