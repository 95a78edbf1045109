@echo off
rem Risk Manager uninstaller (daemon.md 10.4): elevates (UAC), asks for a typed UNINSTALL, removes the
rem service and keeps the configuration, the database and the logs.
setlocal EnableExtensions
set "HERE=%~dp0"

net session >nul 2>&1
if not errorlevel 1 goto elevated
if /i "%~1"=="--elevated" goto no_elevation
echo Requesting administrator rights...
powershell -NoProfile -ExecutionPolicy Bypass -Command "try { $p = Start-Process -FilePath '%~f0' -ArgumentList '--elevated' -Verb RunAs -Wait -PassThru; exit $p.ExitCode } catch { exit 1223 }"
set "RC=%ERRORLEVEL%"
if "%RC%"=="1223" goto declined
exit /b %RC%

:declined
echo Administrator rights were declined. Nothing was removed.
exit /b 1

:no_elevation
echo Administrator rights are required and could not be obtained. Nothing was removed.
pause
exit /b 1

:elevated
set "PY="
if exist "%HERE%Scripts\python.exe" set "PY=%HERE%Scripts\python.exe"
if not defined PY if exist "%HERE%python.exe" set "PY=%HERE%python.exe"
if not defined PY (
    echo Uninstall FAILED: no Python environment next to uninstall.bat.
    exit /b 1
)
set "ANSWER="
set /p "ANSWER=Type UNINSTALL to remove the Risk Manager service: "
if not "%ANSWER%"=="UNINSTALL" goto cancelled
"%PY%" -m risk_manager service uninstall --yes
set "RC=%ERRORLEVEL%"
if /i "%~1"=="--elevated" pause
exit /b %RC%

:cancelled
echo Cancelled: the service was not removed.
if /i "%~1"=="--elevated" pause
exit /b 1
