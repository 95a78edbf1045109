"""Windows ACL primitives over pywin32 (imported only on Windows; see ``permissions``).

Security descriptors are written as SDDL strings, so what the installer applies is one readable
line per path (and the Linux tests can check it). Reading returns ``(sid, mask, allow)`` per ACE.
"""

from __future__ import annotations

from pathlib import Path

SYSTEM_SID = "S-1-5-18"
ADMINISTRATORS_SID = "S-1-5-32-544"
#: rights that let the holder read a file's content
READ_BITS = 0x0001 | 0x80000000 | 0x10000000  # FILE_READ_DATA | GENERIC_READ | GENERIC_ALL
#: rights that let the holder change a file or its permissions
WRITE_BITS = 0x0002 | 0x0004 | 0x10000 | 0x40000 | 0x80000 | 0x40000000 | 0x10000000


def file_aces(path: Path) -> list[tuple[str, int, bool]]:  # pragma: no cover - Windows
    import win32security

    sd = win32security.GetNamedSecurityInfo(
        str(path), win32security.SE_FILE_OBJECT, win32security.DACL_SECURITY_INFORMATION
    )
    dacl = sd.GetSecurityDescriptorDacl()
    if dacl is None:  # a NULL DACL grants everyone everything
        return [("S-1-1-0", 0x10000000, True)]
    aces = []
    for i in range(dacl.GetAceCount()):
        (ace_type, _flags), mask, sid = dacl.GetAce(i)[:3]
        allow = ace_type == win32security.ACCESS_ALLOWED_ACE_TYPE
        aces.append((win32security.ConvertSidToStringSid(sid), int(mask) & 0xFFFFFFFF, allow))
    return aces


def owner_sid(path: Path) -> str:  # pragma: no cover - Windows
    import win32security

    sd = win32security.GetNamedSecurityInfo(
        str(path), win32security.SE_FILE_OBJECT, win32security.OWNER_SECURITY_INFORMATION
    )
    return str(win32security.ConvertSidToStringSid(sd.GetSecurityDescriptorOwner()))


def account_name(sid: str) -> str:  # pragma: no cover - Windows
    import win32security

    try:
        name, domain, _ = win32security.LookupAccountSid(None, win32security.ConvertStringSidToSid(sid))
    except Exception:
        return sid
    return f"{domain}\\{name}" if domain else name


def secret_problem(path: Path, *, owner_only: bool = False) -> str | None:  # pragma: no cover - Windows
    if not path.exists():
        return None
    allowed = {SYSTEM_SID, ADMINISTRATORS_SID}
    if owner_only:
        allowed.add(owner_sid(path))
    readers = sorted(
        {account_name(sid) for sid, mask, allow in file_aces(path) if allow and mask & READ_BITS and sid not in allowed}
    )
    if not readers:
        return None
    return (
        f"is readable by {', '.join(readers)}; run as administrator: "
        "risk-manager service install --repair-permissions"
    )


def apply_sddl(path: Path, sddl: str) -> None:  # pragma: no cover - Windows
    """Set owner and DACL of ``path`` from an SDDL string (protected or inheriting as it says)."""
    import win32security

    sd = win32security.ConvertStringSecurityDescriptorToSecurityDescriptor(sddl, win32security.SDDL_REVISION_1)
    info = win32security.DACL_SECURITY_INFORMATION
    control, _revision = sd.GetSecurityDescriptorControl()
    if control & win32security.SE_DACL_PROTECTED:
        info |= win32security.PROTECTED_DACL_SECURITY_INFORMATION
    else:
        info |= win32security.UNPROTECTED_DACL_SECURITY_INFORMATION
    owner = sd.GetSecurityDescriptorOwner()
    if owner is not None:
        info |= win32security.OWNER_SECURITY_INFORMATION
    win32security.SetNamedSecurityInfo(
        str(path), win32security.SE_FILE_OBJECT, info, owner, None, sd.GetSecurityDescriptorDacl(), None
    )


def restrict_to_owner(path: Path) -> None:  # pragma: no cover - Windows
    apply_sddl(path, f"D:PAI(A;;FA;;;{owner_sid(path)})(A;;FA;;;SY)(A;;FA;;;BA)")


def is_elevated() -> bool:  # pragma: no cover - Windows
    import ctypes

    try:
        return bool(ctypes.windll.shell32.IsUserAnAdmin())  # type: ignore[attr-defined]
    except Exception:
        return False


def token_in_administrators() -> bool:  # pragma: no cover - Windows
    """The user belongs to Administrators, elevated or not (a UAC-filtered token lists the group as
    deny-only: it is still an administrator one consent prompt away)."""
    import win32api
    import win32security

    token = win32security.OpenProcessToken(win32api.GetCurrentProcess(), win32security.TOKEN_QUERY)
    admins = win32security.ConvertStringSidToSid(ADMINISTRATORS_SID)
    groups = win32security.GetTokenInformation(token, win32security.TokenGroups)
    return any(sid == admins for sid, _attrs in groups)
