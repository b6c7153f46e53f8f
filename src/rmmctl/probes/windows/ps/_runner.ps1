# Runs every section in its own runspace at once; each has a time budget from the start. A section
# that throws or passes its budget is framed as not ok, the others are unaffected. One line per section:
# RMMCTL <nonce> <section> <base64 of UTF-8 JSON>; anything else on stdout is ignored by rmmctl.
$rmmStart = [DateTime]::UtcNow
$rmmPool = [RunspaceFactory]::CreateRunspacePool(1, [Math]::Max(1, $rmmSections.Count))
$rmmPool.Open()
$rmmJobs = @(foreach ($rmmName in @($rmmSections.Keys)) {
  $ps = [PowerShell]::Create()
  $ps.RunspacePool = $rmmPool
  [void]$ps.AddScript($rmmPrelude + "`n" + $rmmSections[$rmmName][1]).AddArgument($rmmParams)
  [pscustomobject]@{ name = $rmmName; budget = $rmmSections[$rmmName][0]; ps = $ps; handle = $ps.BeginInvoke() }
})
foreach ($job in $rmmJobs) {
  $left = $job.budget * 1000 - ([DateTime]::UtcNow - $rmmStart).TotalMilliseconds
  if ($job.handle.AsyncWaitHandle.WaitOne([int][Math]::Max(0, $left))) {
    try {
      $out = @($job.ps.EndInvoke($job.handle))
      if ($out.Count -eq 1) { $data = $out[0] } else { $data = $out }
      $doc = [ordered]@{ ok = $true; data = $data }
    } catch {
      $e = $_.Exception
      if ($e.InnerException) { $e = $e.InnerException }
      $doc = [ordered]@{ ok = $false; error = "$($e.Message)"; type = $e.GetType().FullName }
    }
  } else {
    [void]$job.ps.BeginStop($null, $null)
    $doc = [ordered]@{ ok = $false; timeout = $true; error = "no answer within $($job.budget) s" }
  }
  try { $json = ConvertTo-Json -InputObject $doc -Depth 8 -Compress }
  catch { $json = ConvertTo-Json -InputObject ([ordered]@{ ok = $false; error = "not serialisable: $($_.Exception.Message)" }) -Compress }
  'RMMCTL ' + $rmmNonce + ' ' + $job.name + ' ' + [Convert]::ToBase64String([Text.Encoding]::UTF8.GetBytes($json))
}
exit 0
