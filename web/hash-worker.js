// Hashes file slices off the page's thread, so a large file never freezes the UI.
// Each message is {id, blob}; the answer is {id, sha256} (base64, as S3's
// x-amz-checksum-sha256 carries it) or {id, error}.
self.onmessage = async ({ data: { id, blob } }) => {
  try {
    const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", await blob.arrayBuffer()));
    let binary = "";
    for (const byte of digest) binary += String.fromCharCode(byte);
    self.postMessage({ id, sha256: btoa(binary) });
  } catch (error) {
    self.postMessage({ id, error: String(error) });
  }
};
