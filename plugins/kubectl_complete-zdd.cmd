@echo off
rem kubectl_complete-zdd.cmd: kubectl (1.26 and newer) runs this when you press
rem TAB after "kubectl zdd"; it asks kubectl-zdd for the choices.
if exist "%~dp0kubectl-zdd.exe" (
  "%~dp0kubectl-zdd.exe" __complete %*
) else (
  kubectl-zdd.exe __complete %*
)
