# rmmctl-probe: av@1
# Microsoft Defender's status. Absent (no cmdlet, Defender removed) or passive under a third-party
# antivirus: one reason, thrown, so the section is unavailable with it.
if (-not (Get-Command Get-MpComputerStatus -ErrorAction SilentlyContinue)) {
  throw 'Microsoft Defender is not installed (no Get-MpComputerStatus cmdlet)'
}
try { $s = Get-MpComputerStatus }
catch { throw "Microsoft Defender does not answer (its service may be stopped or disabled): $($_.Exception.Message)" }
$mode = "$($s.AMRunningMode)"
if ($mode -match 'Passive|EDR') {
  $other = Try-Get { @(Get-CimInstance -Namespace root/SecurityCenter2 -ClassName AntiVirusProduct -OperationTimeoutSec 5 | ForEach-Object { "$($_.displayName)" } | Where-Object { $_ -notmatch 'Defender' }) }
  $by = ''
  if (@($other).Count -gt 0) { $by = ' (active antivirus: ' + (@($other) -join ', ') + ')' }
  throw "Microsoft Defender is not the active antivirus (AMRunningMode: $mode)$by"
}
[pscustomobject]@{
  now = Iso ([DateTime]::UtcNow)
  service_enabled = [bool]$s.AMServiceEnabled
  antivirus_enabled = [bool]$s.AntivirusEnabled
  real_time = [bool]$s.RealTimeProtectionEnabled
  running_mode = $mode
  tamper_protected = $(if ($null -ne $s.IsTamperProtected) { [bool]$s.IsTamperProtected } else { $null })
  signature_version = "$($s.AntivirusSignatureVersion)"
  signature_updated = Try-Get { Iso $s.AntivirusSignatureLastUpdated }
  signature_age = $s.AntivirusSignatureAge
  quick_scan_age = $s.QuickScanAge
  full_scan_age = $s.FullScanAge
  quick_scan_end = Try-Get { Iso $s.QuickScanEndTime }
}
