import { useLayoutEffect, useMemo, useReducer, useRef, useState } from 'preact/hooks';
import { Virtualizer, elementScroll, observeElementOffset, observeElementRect, type VirtualizerOptions } from '@tanstack/virtual-core';
import { errorText, get, type ResultInfo, type Rows } from './api';

/** Rows the grid asks the server for at once. */
const PAGE = 200;
const ROW_HEIGHT = 24;
const NUMBER_WIDTH = 64;
const HEADER_HEIGHT = ROW_HEIGHT + 8;

type Cell = string | null;

/** A virtual scroller over one axis, kept in step with the component's renders. */
function useVirtual(options: () => Omit<VirtualizerOptions<HTMLDivElement, Element>, 'observeElementRect' | 'observeElementOffset' | 'scrollToFn' | 'onChange'>) {
  const [, rerender] = useReducer((n: number) => n + 1, 0);
  const make = () => ({ ...options(), observeElementRect, observeElementOffset, scrollToFn: elementScroll, onChange: () => rerender(0) });
  const virtualizer = useMemo(() => new Virtualizer<HTMLDivElement, Element>(make()), []);
  virtualizer.setOptions(make());
  useLayoutEffect(() => virtualizer._didMount(), []);
  useLayoutEffect(() => virtualizer._willUpdate());
  return virtualizer;
}

function widthOf(name: string, type: string): number {
  return Math.min(360, Math.max(90, 12 + 8 * Math.max(name.length, Math.min(type.length, 14))));
}

/** The result grid: virtual rows and columns over pages the server holds, fetched as they
 *  come into view, so the page holds what is on screen and not the whole result. */
export function Grid(props: { info: ResultInfo; onSelection: (rows: [number, number] | null) => void }) {
  const { info } = props;
  const scroller = useRef<HTMLDivElement>(null);
  const pages = useRef(new Map<number, Cell[][]>());
  const asked = useRef(new Set<number>());
  const [, bump] = useReducer((n: number) => n + 1, 0);
  const [error, setError] = useState<string | null>(null);
  const [selected, setSelected] = useState<[number, number] | null>(null);
  const widths = useMemo(() => info.columns.map((c) => widthOf(c.name, c.type)), [info.id]);

  const rows = useVirtual(() => ({ count: info.loaded, getScrollElement: () => scroller.current, estimateSize: () => ROW_HEIGHT, overscan: 20, scrollMargin: HEADER_HEIGHT }));
  const cols = useVirtual(() => ({
    count: info.columns.length,
    horizontal: true,
    getScrollElement: () => scroller.current,
    estimateSize: (i) => widths[i] ?? 120,
    overscan: 4,
  }));

  const fetchPage = (page: number) => {
    if (asked.current.has(page)) return;
    asked.current.add(page);
    get<Rows>(`/api/results/${info.id}/rows?offset=${page * PAGE}&limit=${PAGE}`)
      .then((r) => {
        pages.current.set(page, r.rows);
        asked.current.delete(page);
        bump(0);
      })
      .catch((e) => {
        asked.current.delete(page);
        setError(errorText(e));
      });
  };

  const cell = (row: number): Cell[] | undefined => {
    const page = Math.floor(row / PAGE);
    const got = pages.current.get(page);
    // A page fetched while it was still loading is asked again once more rows exist.
    const full = got && (got.length === PAGE || page * PAGE + got.length >= info.loaded);
    if (!full) fetchPage(page);
    return got?.[row - page * PAGE];
  };

  const select = (row: number, extend: boolean) => {
    const next: [number, number] = extend && selected ? [Math.min(selected[0], row), Math.max(selected[1], row)] : [row, row];
    setSelected(next);
    props.onSelection(next);
  };

  const virtualRows = rows.getVirtualItems();
  const virtualCols = cols.getVirtualItems();
  const totalWidth = cols.getTotalSize() + NUMBER_WIDTH;
  const place = (el: HTMLElement | null, left: number, top: number, width: number) => {
    if (!el) return;
    el.style.transform = `translate(${left}px, ${top}px)`;
    el.style.width = `${width}px`;
  };
  const size = (el: HTMLElement | null, w: number, h: number) => {
    if (!el) return;
    el.style.width = `${w}px`;
    el.style.height = `${h}px`;
  };

  return (
    <div class="grid" data-testid="grid">
      {error && <p class="error">{error}</p>}
      <div class="grid-scroll" ref={scroller} data-testid="grid-scroll">
        <div class="grid-header" ref={(el) => size(el, totalWidth, HEADER_HEIGHT)}>
          <div class="grid-corner" ref={(el) => place(el, 0, 0, NUMBER_WIDTH)} />
          {virtualCols.map((c) => {
            const col = info.columns[c.index];
            return (
              <div class="grid-head" data-testid="grid-head" title={`${col?.name} (${col?.type})`} ref={(el) => place(el, NUMBER_WIDTH + c.start, 0, c.size)}>
                <span class="col-name">{col?.name}</span>
                <span class="col-type">{col?.type}</span>
              </div>
            );
          })}
        </div>
        <div class="grid-body" ref={(el) => size(el, totalWidth, rows.getTotalSize())}>
          {virtualRows.map((r) => {
            const values = cell(r.index);
            const isSelected = selected !== null && r.index >= selected[0] && r.index <= selected[1];
            return (
              <div class={isSelected ? 'grid-row selected' : 'grid-row'} data-testid="grid-row" data-row={r.index + 1} ref={(el) => place(el, 0, r.start - HEADER_HEIGHT, totalWidth)}>
                <div class="grid-num" data-testid="grid-num" onClick={(e) => select(r.index, e.shiftKey)} ref={(el) => place(el, 0, 0, NUMBER_WIDTH)}>
                  {r.index + 1}
                </div>
                {virtualCols.map((c) => {
                  const v = values?.[c.index];
                  const loading = values === undefined;
                  return (
                    <div
                      class={loading ? 'grid-cell loading' : v === null ? 'grid-cell null' : 'grid-cell'}
                      data-testid="grid-cell"
                      title={v ?? undefined}
                      ref={(el) => place(el, NUMBER_WIDTH + c.start, 0, c.size)}
                    >
                      {loading ? '' : v === null ? 'NULL' : v}
                    </div>
                  );
                })}
              </div>
            );
          })}
        </div>
      </div>
    </div>
  );
}
