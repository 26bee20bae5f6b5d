"""The procedure's three steps on the database: look up, save the request, send the OTP, create the account."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from forms.models import AccountRequest, AuditEvent, CitizenAccount, Officer, OtpChallenge, utcnow
from forms.rules import CitizenInfo, mask_id_number
from forms.security import generate_otp, generate_password, hash_otp, hash_password, new_salt, otp_matches
from forms.sms import SmsError, SmsGateway

LOCAL_ZONE = ZoneInfo("Asia/Ho_Chi_Minh")


@dataclass(frozen=True)
class OtpPolicy:
    """The OTP's limits. The seed fixes the 2 minutes; the others keep an SMS budget and a guessing game small."""

    valid_for: timedelta = timedelta(minutes=2)
    cooldown: timedelta = timedelta(seconds=60)  # between two sends to one phone
    max_attempts: int = 5  # wrong entries per code; the sixth is refused even if right
    daily_cap: int = 5  # codes per phone per local (Vietnam) day


class ProcedureError(Exception):
    """A step that cannot be done now; the message is for the officer, in Vietnamese."""

    field: str | None = None


class AccountExists(ProcedureError):
    """An account already exists for the number: the procedure says to stop."""

    field = "id_number"

    def __init__(self, id_number: str) -> None:
        super().__init__(f"Số CMND/CCCD {id_number} đã có tài khoản, không thực hiện tạo mới.")


class RequestClosed(ProcedureError):
    """The request was cancelled or has already created its account."""

    def __init__(self, status: str) -> None:
        what = "đã tạo tài khoản" if status == "created" else "đã hủy"
        super().__init__(f"Yêu cầu này {what}; hãy chọn [Thêm mới] để bắt đầu yêu cầu khác.")


class OtpError(ProcedureError):
    """Anything wrong with sending or entering the OTP."""

    field = "otp"


class OtpCooldown(OtpError):
    def __init__(self, seconds: int) -> None:
        self.seconds = seconds
        super().__init__(f"Vừa gửi mã OTP; có thể gửi lại sau {seconds} giây.")


class OtpDailyCap(OtpError):
    def __init__(self, cap: int) -> None:
        super().__init__(f"Số điện thoại này đã nhận {cap} mã OTP hôm nay; hãy thử lại vào ngày mai.")


class OtpMissing(OtpError):
    def __init__(self) -> None:
        super().__init__("Chưa gửi mã OTP, hoặc mã đã bị hủy; hãy chọn [Gửi mã OTP].")


class OtpExpired(OtpError):
    def __init__(self) -> None:
        super().__init__("Mã OTP đã hết hiệu lực (2 phút); hãy chọn [Gửi mã OTP] để gửi mã mới.")


class OtpExhausted(OtpError):
    def __init__(self) -> None:
        super().__init__("Nhập sai mã OTP quá số lần cho phép; hãy chọn [Gửi mã OTP] để gửi mã mới.")


class OtpWrong(OtpError):
    def __init__(self, attempts_left: int) -> None:
        self.attempts_left = attempts_left
        super().__init__(f"Mã OTP không đúng; còn {attempts_left} lần nhập.")


class SmsFailed(ProcedureError):
    """The gateway refused; what was saved stays saved."""

    def __init__(self, error: SmsError, *, account_created: bool = False) -> None:
        self.account_created = account_created
        prefix = "Tài khoản đã được tạo nhưng chưa gửi được mật khẩu. " if account_created else ""
        super().__init__(prefix + str(error))


def audit(
    session: Session,
    officer: Officer | None,
    action: str,
    *,
    request: AccountRequest | None = None,
    account_id: int | None = None,
    detail: str = "",
) -> None:
    """Record one step; callers pass details that hold no code, password or whole ID number."""
    session.add(
        AuditEvent(
            officer_id=officer.id if officer else None,
            action=action,
            request_id=request.id if request else None,
            account_id=account_id,
            detail=detail[:1000],
        )
    )


def find_account(session: Session, id_number: str) -> CitizenAccount | None:
    """The account created for this number, if any."""
    return session.exec(select(CitizenAccount).where(CitizenAccount.id_number == id_number)).first()


def may_act(officer: Officer, request: AccountRequest) -> bool:
    """Officers and reviewers work on their own unit's requests; administrators on every unit's."""
    if officer.role == "administrator":
        return True
    if request.unit_id is None:
        # A batch draft belongs to no unit until an officer takes it up at the counter.
        return request.officer_id in (None, officer.id)
    return request.unit_id == officer.unit_id


def _locked(session: Session, request: AccountRequest) -> AccountRequest:
    # FOR UPDATE on PostgreSQL; on SQLite the transaction already holds the write lock (forms.db).
    statement = select(AccountRequest).where(AccountRequest.id == request.id).with_for_update()
    fresh = session.exec(statement.execution_options(populate_existing=True)).one()
    if fresh.status == "created":
        raise AccountExists(fresh.id_number or "")  # a second click on [Tạo tài khoản] lands here
    if fresh.status == "cancelled":
        raise RequestClosed(fresh.status)
    return fresh


def save_request(session: Session, request: AccountRequest, info: CitizenInfo, officer: Officer) -> AccountRequest:
    """Write the form's values onto the request (the officer's corrections win over the reading)."""
    request = _locked(session, request)
    changed_phone = request.phone is not None and request.phone != info.phone
    request.id_number = info.id_number
    request.full_name = info.full_name
    request.date_of_birth = info.date_of_birth
    request.phone = info.phone
    request.email = info.email
    request.unit_id = info.unit_id
    request.officer_id = request.officer_id or officer.id
    request.updated_at = utcnow()
    if changed_phone:
        # A code sent to the old phone confirms nothing about the new one.
        _void_codes(session, request)
        request.status = "draft"
    session.add(request)
    session.commit()
    return request


def _void_codes(session: Session, request: AccountRequest) -> None:
    for challenge in session.exec(
        select(OtpChallenge).where(OtpChallenge.request_id == request.id, OtpChallenge.state == "active")
    ):
        challenge.state = "void"
        session.add(challenge)


def _local_midnight(now: datetime) -> datetime:
    local = now.astimezone(LOCAL_ZONE)
    return local.replace(hour=0, minute=0, second=0, microsecond=0)


def send_otp(
    session: Session,
    request: AccountRequest,
    officer: Officer,
    gateway: SmsGateway,
    *,
    key: bytes,
    policy: OtpPolicy = OtpPolicy(),
    now: datetime | None = None,
) -> OtpChallenge:
    """Send a new code to the request's phone; older codes of the request stop working."""
    now = now or utcnow()
    request = _locked(session, request)
    if request.id_number and find_account(session, request.id_number):
        raise AccountExists(request.id_number)
    phone = request.phone
    if not phone:
        raise OtpError("Chưa có số điện thoại của công dân.")
    latest = session.exec(
        select(OtpChallenge).where(OtpChallenge.phone == phone).order_by(col(OtpChallenge.created_at).desc())
    ).first()
    if latest is not None and now - latest.created_at < policy.cooldown:
        wait = policy.cooldown - (now - latest.created_at)
        raise OtpCooldown(max(1, int(wait.total_seconds() + 0.999)))
    sent_today = session.exec(
        select(func.count())
        .select_from(OtpChallenge)
        .where(OtpChallenge.phone == phone, OtpChallenge.created_at >= _local_midnight(now))
    ).one()
    if sent_today >= policy.daily_cap:
        raise OtpDailyCap(policy.daily_cap)
    _void_codes(session, request)
    code = generate_otp()
    salt = new_salt()
    challenge = OtpChallenge(
        request_id=request.id or 0,
        phone=phone,
        salt=salt,
        code_hash=hash_otp(code, key=key, salt=salt),
        created_at=now,
        expires_at=now + policy.valid_for,
    )
    session.add(challenge)
    request.status = "otp_sent"
    request.updated_at = now
    session.add(request)
    session.flush()
    try:
        # SMS texts go without diacritics: GSM-7 fits 160 of them in one message, UCS-2 only 70.
        gateway.send(phone, f"Ma OTP xac nhan tao tai khoan Cong DVC quoc gia: {code}. Hieu luc 2 phut.")
    except SmsError as error:
        challenge.state = "void"
        session.add(challenge)
        audit(session, officer, "otp_failed", request=request, detail=str(error))
        session.commit()
        raise SmsFailed(error) from error
    audit(session, officer, "otp_sent", request=request)
    session.commit()
    return challenge


def create_account(
    session: Session,
    request: AccountRequest,
    officer: Officer,
    code: str,
    gateway: SmsGateway,
    *,
    key: bytes,
    policy: OtpPolicy = OtpPolicy(),
    now: datetime | None = None,
) -> CitizenAccount:
    """Check the latest code and create the account, exactly once per ID number; the password goes by SMS."""
    now = now or utcnow()
    request = _locked(session, request)
    if not (request.id_number and request.full_name and request.date_of_birth and request.phone and request.unit_id):
        raise ProcedureError("Thông tin công dân chưa đủ; hãy kiểm tra các trường bắt buộc.")
    if find_account(session, request.id_number):
        raise AccountExists(request.id_number)
    challenge = session.exec(
        select(OtpChallenge)
        .where(OtpChallenge.request_id == request.id, col(OtpChallenge.state).in_(("active", "exhausted")))
        .order_by(col(OtpChallenge.created_at).desc())
    ).first()
    if challenge is None:
        raise OtpMissing()
    if challenge.state == "exhausted" or challenge.attempts >= policy.max_attempts:
        raise OtpExhausted()
    if now >= challenge.expires_at:
        raise OtpExpired()
    if not otp_matches(challenge.code_hash, code.strip(), key=key, salt=challenge.salt):
        challenge.attempts += 1
        if challenge.attempts >= policy.max_attempts:
            challenge.state = "exhausted"
        session.add(challenge)
        audit(session, officer, "otp_wrong", request=request, detail=f"attempt {challenge.attempts}")
        session.commit()  # the wrong entry counts even though the step fails
        if challenge.state == "exhausted":
            raise OtpExhausted()
        raise OtpWrong(policy.max_attempts - challenge.attempts)
    password = generate_password()
    account = CitizenAccount(
        id_number=request.id_number,
        full_name=request.full_name,
        date_of_birth=request.date_of_birth,
        phone=request.phone,
        email=request.email,
        unit_id=request.unit_id,
        officer_id=officer.id or 0,
        request_id=request.id,
        password_hash=hash_password(password),
        created_at=now,
    )
    session.add(account)
    challenge.state = "used"
    session.add(challenge)
    request.status = "created"
    request.updated_at = now
    session.add(request)
    try:
        session.flush()
    except IntegrityError as error:
        # Another request for the same number won the race between our check and our insert.
        session.rollback()
        raise AccountExists(request.id_number or "") from error
    audit(
        session,
        officer,
        "account_created",
        request=request,
        account_id=account.id,
        detail=f"CMND/CCCD {mask_id_number(account.id_number)}",
    )
    session.commit()
    _send_password(session, account, officer, gateway, password)
    return account


def _send_password(
    session: Session, account: CitizenAccount, officer: Officer, gateway: SmsGateway, password: str
) -> None:
    text = f"Tai khoan Cong DVC quoc gia da duoc tao. Ten dang nhap: {account.id_number}. Mat khau: {password}"
    try:
        gateway.send(account.phone, text)
    except SmsError as error:
        audit(session, officer, "password_sms_failed", account_id=account.id, detail=str(error))
        session.commit()
        raise SmsFailed(error, account_created=True) from error
    audit(session, officer, "password_sent", account_id=account.id)
    session.commit()


def resend_password(session: Session, account: CitizenAccount, officer: Officer, gateway: SmsGateway) -> None:
    """A new password for an account whose first SMS did not go out; the old one stops working."""
    password = generate_password()
    account.password_hash = hash_password(password)
    session.add(account)
    session.commit()
    _send_password(session, account, officer, gateway, password)


def cancel_request(session: Session, request: AccountRequest, officer: Officer) -> None:
    """[Hủy]: the request is abandoned and its codes stop working; nothing is deleted."""
    request = _locked(session, request)
    _void_codes(session, request)
    request.status = "cancelled"
    request.updated_at = utcnow()
    session.add(request)
    audit(session, officer, "request_cancelled", request=request)
    session.commit()
