/** A small SVG line chart of events per second over the last minute (no chart library). */
import { Component, computed, input } from '@angular/core';

export interface RatePoint {
  /** Milliseconds since the epoch. */
  at: number;
  perSecond: number;
}

const WIDTH = 600;
const HEIGHT = 160;
const PAD = { left: 40, right: 8, top: 10, bottom: 22 };

@Component({
  selector: 'app-rate-chart',
  template: `
    <svg
      class="rate-chart"
      [attr.viewBox]="'0 0 ' + width + ' ' + height"
      role="img"
      [attr.aria-label]="summary()"
      data-testid="rate-chart"
    >
      <line class="axis" [attr.x1]="pad.left" [attr.y1]="height - pad.bottom" [attr.x2]="width - pad.right" [attr.y2]="height - pad.bottom" />
      <line class="axis" [attr.x1]="pad.left" [attr.y1]="pad.top" [attr.x2]="pad.left" [attr.y2]="height - pad.bottom" />
      <line class="grid" [attr.x1]="pad.left" [attr.y1]="pad.top" [attr.x2]="width - pad.right" [attr.y2]="pad.top" />
      <text class="tick" [attr.x]="pad.left - 6" [attr.y]="pad.top + 4" text-anchor="end">{{ max() }}</text>
      <text class="tick" [attr.x]="pad.left - 6" [attr.y]="height - pad.bottom" text-anchor="end">0</text>
      <text class="tick" [attr.x]="pad.left" [attr.y]="height - 6">−{{ spanSeconds }} s</text>
      <text class="tick" [attr.x]="width - pad.right" [attr.y]="height - 6" text-anchor="end">now</text>
      @if (area()) {
        <path class="area" [attr.d]="area()" />
        <polyline class="line" [attr.points]="line()" />
      }
    </svg>
  `,
})
export class RateChartComponent {
  readonly points = input.required<readonly RatePoint[]>();
  readonly now = input.required<number>();
  readonly spanSeconds = 60;
  readonly width = WIDTH;
  readonly height = HEIGHT;
  readonly pad = PAD;

  /** The y-axis top: a round number above the highest rate. */
  readonly max = computed(() => {
    const highest = Math.max(1, ...this.points().map((p) => p.perSecond));
    const magnitude = 10 ** Math.floor(Math.log10(highest));
    return Math.ceil(highest / magnitude) * magnitude;
  });

  private readonly xy = computed(() => {
    const now = this.now();
    const spanMs = this.spanSeconds * 1000;
    const plotW = WIDTH - PAD.left - PAD.right;
    const plotH = HEIGHT - PAD.top - PAD.bottom;
    return this.points()
      .filter((p) => now - p.at <= spanMs)
      .map((p) => ({
        x: PAD.left + plotW * (1 - (now - p.at) / spanMs),
        y: PAD.top + plotH * (1 - p.perSecond / this.max()),
      }));
  });

  readonly line = computed(() => this.xy().map((p) => `${p.x.toFixed(1)},${p.y.toFixed(1)}`).join(' '));

  readonly area = computed(() => {
    const xy = this.xy();
    if (xy.length < 2) {
      return '';
    }
    const base = HEIGHT - PAD.bottom;
    return `M${xy[0].x.toFixed(1)},${base} ` + xy.map((p) => `L${p.x.toFixed(1)},${p.y.toFixed(1)}`).join(' ') + ` L${xy[xy.length - 1].x.toFixed(1)},${base} Z`;
  });

  readonly summary = computed(() => {
    const points = this.points();
    const last = points.length ? points[points.length - 1].perSecond : 0;
    const peak = Math.max(0, ...points.map((p) => p.perSecond));
    return `Events per second over the last minute: now ${last.toFixed(1)}, peak ${peak.toFixed(1)}.`;
  });
}
