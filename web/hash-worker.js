// SHA-256 off the main thread, so the page stays responsive while a file or a
// part is read and hashed. Answers with the base64 of the digest, the form
// S3's x-amz-checksum-sha256 carries.

function base64(buffer) {
  let binary = "";
  for (const byte of new Uint8Array(buffer)) binary += String.fromCharCode(byte);
  return btoa(binary);
}

self.addEventListener("message", async ({ data: { id, blob } }) => {
  try {
    const digest = await crypto.subtle.digest("SHA-256", await blob.arrayBuffer());
    self.postMessage({ id, sha256: base64(digest) });
  } catch (error) {
    self.postMessage({ id, error: String(error?.message || error) });
  }
});
