/** Offsets and positions in user files. Parser offsets are UTF-8 bytes; JS strings are not. */

export class SourceText {
  private readonly bytes: Buffer;
  private lineStarts?: number[];

  constructor(readonly text: string) {
    this.bytes = Buffer.from(text, "utf8");
  }

  /** The character index of a UTF-8 byte offset. */
  charIndex(byteOffset: number): number {
    // Pure ASCII (the usual case): bytes and characters coincide.
    if (this.bytes.length === this.text.length) return Math.max(0, byteOffset);
    return this.bytes.subarray(0, Math.max(0, byteOffset)).toString("utf8").length;
  }

  /** The text between two byte offsets. */
  sliceBytes(start: number, end: number): string {
    return this.bytes.subarray(start, end).toString("utf8");
  }

  /** 1-based line and column of a character index. */
  lineCol(charIndex: number): { line: number; column: number } {
    const starts = (this.lineStarts ??= [0, ...[...this.text.matchAll(/\n/g)].map((m) => m.index! + 1)]);
    let lo = 0;
    let hi = starts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (starts[mid]! <= charIndex) lo = mid;
      else hi = mid - 1;
    }
    return { line: lo + 1, column: charIndex - starts[lo]! + 1 };
  }
}
