param($RmmParams)
# rmmctl-prelude@1: the top of every section's runspace (PowerShell 5.1-safe helpers)
$ErrorActionPreference = 'Stop'
$ProgressPreference = 'SilentlyContinue'
$P = ConvertFrom-Json $RmmParams
function Iso($d) {
  # a date as ISO 8601 UTC text (ConvertTo-Json would print /Date(ms)/ or a {value, DateTime} object)
  if ($null -eq $d) { return $null }
  ([datetime]$d).ToUniversalTime().ToString('yyyy-MM-ddTHH:mm:ss.fffZ')
}
function Try-Get([scriptblock]$Block) {
  # one guarded part of a section: its value, or $null when it fails
  try { & $Block } catch { $null }
}
