# rmmctl-probe: reboot@1
# Pending-reboot signals (registry only, no WMI): CBS, Windows Update, PendingFileRenameOperations
# (reported, but AV products set it, so it alone is no reboot), a pending computer rename.
$cv = 'HKLM:\SOFTWARE\Microsoft\Windows\CurrentVersion'
$cn = 'HKLM:\SYSTEM\CurrentControlSet\Control\ComputerName'
$sm = 'HKLM:\SYSTEM\CurrentControlSet\Control\Session Manager'
$pfro = Try-Get { @((Get-ItemProperty $sm -Name PendingFileRenameOperations -ErrorAction Stop).PendingFileRenameOperations | Where-Object { $_ }) }
$active = Try-Get { (Get-ItemProperty "$cn\ActiveComputerName" -Name ComputerName -ErrorAction Stop).ComputerName }
$pending = Try-Get { (Get-ItemProperty "$cn\ComputerName" -Name ComputerName -ErrorAction Stop).ComputerName }
[pscustomobject]@{
  cbs = [bool](Test-Path "$cv\Component Based Servicing\RebootPending")
  wu = [bool](Test-Path "$cv\WindowsUpdate\Auto Update\RebootRequired")
  pfro = [bool]($pfro -and @($pfro).Count -gt 0)
  pfro_count = @($pfro).Count
  active_name = $active
  pending_name = $pending
}
