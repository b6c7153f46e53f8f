# rmmctl-probe: backup@1
# Each inventory backup path: a file's own time and size, or a directory's newest file (recursive,
# capped at 20000 files so a huge tree cannot eat the budget). Times are unix seconds, sizes bytes.
$epoch = New-Object DateTime 1970, 1, 1, 0, 0, 0, ([DateTimeKind]::Utc)
$cap = 20000
$paths = @(foreach ($p in @($P.BACKUP_PATHS)) {
  if ($null -eq $p -or "$p" -eq '') { continue }
  $path = "$p"
  $item = Try-Get { Get-Item -LiteralPath $path -Force -ErrorAction Stop }
  if ($null -eq $item) {
    [pscustomobject]@{ path = $path; kind = 'missing' }
  } elseif ($item.PSIsContainer) {
    $files = @(Get-ChildItem -LiteralPath $path -Recurse -File -Force -ErrorAction SilentlyContinue | Select-Object -First $cap)
    $newest = $files | Sort-Object LastWriteTimeUtc -Descending | Select-Object -First 1
    if ($newest) {
      [pscustomobject]@{ path = $path; kind = 'dir'; files = $files.Count; capped = [bool]($files.Count -ge $cap)
        mtime = [long][Math]::Floor(($newest.LastWriteTimeUtc - $epoch).TotalSeconds); size = [long]$newest.Length
        newest = $newest.FullName }
    } else {
      [pscustomobject]@{ path = $path; kind = 'dir'; files = 0; capped = $false }
    }
  } elseif ($item -is [System.IO.FileInfo]) {
    [pscustomobject]@{ path = $path; kind = 'file'
      mtime = [long][Math]::Floor(($item.LastWriteTimeUtc - $epoch).TotalSeconds); size = [long]$item.Length }
  } else {
    [pscustomobject]@{ path = $path; kind = 'other' }
  }
})
[pscustomobject]@{
  now = [long][Math]::Floor(([DateTime]::UtcNow - $epoch).TotalSeconds)
  paths = $paths
}
