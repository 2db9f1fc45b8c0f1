import type { FileHandle } from 'node:fs/promises';
import { crc32c } from '@memmapfs/wal';

/** Size of the buffer each section is written through. */
const WRITE_BUFFER = 1024 * 1024;

/** Writes one section of a file sequentially from `start`, through a buffer, keeping its CRC32C. */
export class SectionWriter {
  private readonly buffer = Buffer.allocUnsafe(WRITE_BUFFER);
  private buffered = 0;
  /** Where the next bytes go out in the file. */
  private position: number;
  /** Bytes written to the section so far (buffered included). */
  written = 0;
  crc = 0;

  constructor(private readonly handle: FileHandle, start: number) {
    this.position = start;
  }

  /**
   * Takes `bytes` into the section. When they fit in the buffer that is all, and nothing is returned to
   * wait for (a checkpoint writes two pieces per new row: not a promise each); else a promise.
   */
  write(bytes: Uint8Array): Promise<void> | undefined {
    if (this.buffered + bytes.byteLength > this.buffer.length) return this.flushAndWrite(bytes);
    this.buffer.set(bytes, this.buffered);
    this.buffered += bytes.byteLength;
    this.written += bytes.byteLength;
    return undefined;
  }

  private async flushAndWrite(bytes: Uint8Array): Promise<void> {
    await this.flush();
    if (bytes.byteLength > this.buffer.length) {
      await this.writeOut(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
    } else {
      this.buffer.set(bytes, this.buffered);
      this.buffered += bytes.byteLength;
    }
    this.written += bytes.byteLength;
  }

  async flush(): Promise<void> {
    if (this.buffered === 0) return;
    const part = this.buffer.subarray(0, this.buffered);
    this.buffered = 0;
    await this.writeOut(part);
  }

  private async writeOut(bytes: Buffer): Promise<void> {
    this.crc = crc32c(bytes, this.crc);
    let done = 0;
    while (done < bytes.length) {
      const { bytesWritten } = await this.handle.write(bytes, done, bytes.length - done, this.position + done);
      done += bytesWritten;
    }
    this.position += bytes.length;
  }
}
