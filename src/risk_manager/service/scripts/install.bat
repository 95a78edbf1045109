@echo off
rem Risk Manager installer (daemon.md 10.4). Uses the Python environment this file sits in,
rem re-launches itself with administrator rights (UAC), and runs the four steps below.
rem On an installed service it upgrades in place (backup, migration, re-registration).
setlocal EnableExtensions
set "HERE=%~dp0"
set "CFG=%ProgramData%\risk-manager\config"
set "STEP=0"

net session >nul 2>&1
if not errorlevel 1 goto elevated
if /i "%~1"=="--elevated" goto no_elevation
echo Requesting administrator rights...
powershell -NoProfile -ExecutionPolicy Bypass -Command "try { $p = Start-Process -FilePath '%~f0' -ArgumentList '--elevated' -Verb RunAs -Wait -PassThru; exit $p.ExitCode } catch { exit 1223 }"
set "RC=%ERRORLEVEL%"
if "%RC%"=="1223" goto declined
exit /b %RC%

:declined
echo Administrator rights were declined. Nothing was installed.
echo Run install.bat again and answer Yes when Windows asks.
exit /b 1

:no_elevation
echo Administrator rights are required and could not be obtained. Nothing was installed.
pause
exit /b 1

:elevated
set "PY="
if exist "%HERE%Scripts\python.exe" set "PY=%HERE%Scripts\python.exe"
if not defined PY if exist "%HERE%python.exe" set "PY=%HERE%python.exe"
if not defined PY (
    set "REASON=no Python environment next to install.bat (expected Scripts\python.exe or python.exe)"
    goto failed
)
set "RM="%PY%" -m risk_manager"
set "UPGRADE="
sc query RiskManager >nul 2>&1
if not errorlevel 1 set "UPGRADE=--upgrade"

set "STEP=1"
echo [1/4] Initializing database...
set "NEW_CONFIG="
if not exist "%CFG%\accounts.yaml" set "NEW_CONFIG=1"
%RM% init --config-dir "%CFG%"
if errorlevel 1 (
    set "REASON=risk-manager init failed"
    goto failed
)
if defined NEW_CONFIG goto edit_first

set "STEP=2"
echo [2/4] Installing service...
%RM% service install --no-start %UPGRADE%
if errorlevel 1 (
    set "REASON=risk-manager service install failed (see the lines above)"
    goto failed
)

set "STEP=3"
echo [3/4] Starting service...
%RM% service start
if errorlevel 1 (
    set "REASON=the service did not start (see the lines above)"
    goto failed
)

echo [4/4] Installation complete!
%RM% service status
echo Configuration: %CFG%
echo Logs:          %ProgramData%\risk-manager\logs
echo Next: risk-manager admin
if /i "%~1"=="--elevated" pause
exit /b 0

:edit_first
echo Configuration templates were created in %CFG%.
echo Edit the configuration with "risk-manager admin", then run install.bat again.
if /i "%~1"=="--elevated" pause
exit /b 1

:failed
echo Installation FAILED at step %STEP%: %REASON%
if /i "%~1"=="--elevated" pause
exit /b 1
