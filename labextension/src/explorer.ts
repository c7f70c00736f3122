/**
 * sqlnb's result explorer (sqlnb/ipython/explorer.py) in a notebook, two things its widget
 * cannot do alone:
 *
 * - A saved grid, reopened, shows its static copy. The explorer's outputs are marked with the
 *   output metadata `{"sqlnb": {"explorer": true}}` and hold, beside the widget's view, a
 *   text/html copy of the page that was on screen. JupyterLab's widget renderer outranks
 *   text/html and, when the widget's model is gone (the kernel that made it has ended), says
 *   "Error displaying widget: model not found" and never falls back. So once the notebook's
 *   kernel is known, the kernel is asked which widget models it holds (the comms open on
 *   target `jupyter.widget`: a model's id is its comm's id); each marked output whose model is
 *   not among them shows its text/html in place of the widget's view. A live grid (the same
 *   kernel, the tab reloaded) is left to the widget. Only what is shown changes: the notebook's
 *   outputs are untouched, so opening a notebook never marks it changed.
 *
 * - "Copy the SQL as a new cell": the grid dispatches a bubbling, cancelable DOM event
 *   `sqlnb-insert-cell` with `detail: {code}` from inside its output. The notebook inserts a
 *   code cell holding `code` right below the cell of that output (not run, made active) and
 *   calls `preventDefault()`, which tells the grid not to fall back to the clipboard.
 */

import type { CodeCell } from '@jupyterlab/cells';
import type { Notebook, NotebookPanel } from '@jupyterlab/notebook';
import type { OutputArea } from '@jupyterlab/outputarea';
import type { IOutputModel } from '@jupyterlab/rendermime';
import { MimeModel } from '@jupyterlab/rendermime';
import type { Panel, Widget } from '@lumino/widgets';

export const WIDGET_VIEW_MIME = 'application/vnd.jupyter.widget-view+json';
export const INSERT_CELL_EVENT = 'sqlnb-insert-cell';
const HTML_MIME = 'text/html';
const WIDGET_TARGET = 'jupyter.widget';
/** JupyterLab's class for the rendered part of an output (beside its prompt). */
const OUTPUT_CLASS = 'jp-OutputArea-output';
/** Marks a static copy shown in place of a widget whose model is gone. */
export const STATIC_CLASS = 'sqlnb-explorer-static-copy';

/** `value[key]` when `value` is a JSON object, else undefined. */
function field(value: unknown, key: string): unknown {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
    ? (value as Record<string, unknown>)[key]
    : undefined;
}

/** Whether an output is one of the explorer's (its metadata says so). */
export function isExplorerOutput(output: IOutputModel): boolean {
  return field(output.metadata['sqlnb'], 'explorer') === true;
}

/** The widget model an output shows, if it shows one. */
function widgetModelId(output: IOutputModel): string | null {
  const id = field(output.data[WIDGET_VIEW_MIME], 'model_id');
  return typeof id === 'string' && id !== '' ? id : null;
}

/**
 * The ids of the widget models the notebook's kernel holds now: none without a kernel.
 * Rejects when the kernel does not answer.
 */
async function liveWidgetModels(panel: NotebookPanel): Promise<Set<string>> {
  const kernel = panel.sessionContext.session?.kernel;
  if (!kernel) {
    return new Set();
  }
  const reply = await kernel.requestCommInfo({ target_name: WIDGET_TARGET });
  if (reply.content.status !== 'ok') {
    throw new Error(`comm_info_request: ${reply.content.status}`);
  }
  return new Set(Object.keys(reply.content.comms));
}

/**
 * Shows the static copy (text/html) of output `index` of `area` in place of its rendered
 * widget view. Returns whether it did (not when already done or nothing is rendered there).
 */
function showStaticCopy(area: OutputArea, index: number, output: IOutputModel): boolean {
  const html = output.data[HTML_MIME];
  const item = area.widgets[index] as Panel | undefined;
  if (typeof html !== 'string' || item === undefined || !('widgets' in item)) {
    return false;
  }
  const rendered = item.widgets.find((w: Widget) => w.hasClass(OUTPUT_CLASS));
  if (rendered === undefined || rendered.hasClass(STATIC_CLASS)) {
    return false;
  }
  const copy = area.rendermime.createRenderer(HTML_MIME);
  copy.addClass(OUTPUT_CLASS);
  copy.addClass(STATIC_CLASS);
  // trusted as the output is (an untrusted notebook's HTML is sanitized, as JupyterLab does)
  const model = new MimeModel({
    data: { [HTML_MIME]: html },
    metadata: output.metadata,
    trusted: output.trusted
  });
  copy.renderModel(model).catch(error => console.error('sqlnb: the static copy', error));
  item.insertWidget(item.widgets.indexOf(rendered), copy);
  rendered.dispose();
  return true;
}

/** Every explorer output of `notebook` whose widget model is not in `live` shows its copy. */
export function showStaticCopies(notebook: Notebook, live: Set<string>): number {
  let shown = 0;
  for (const cell of notebook.widgets) {
    if (cell.model.type !== 'code') {
      continue;
    }
    const area = (cell as CodeCell).outputArea;
    // the outputs shown (past maxNumberOutputs a "show more" line stands for the rest)
    const shownOutputs = Math.min(area.model.length, area.maxNumberOutputs);
    for (let index = 0; index < shownOutputs; index++) {
      const output = area.model.get(index);
      const id = widgetModelId(output);
      // an untrusted output is drawn as text/html by JupyterLab already (no widget there)
      if (id !== null && !live.has(id) && output.trusted && isExplorerOutput(output)) {
        shown += showStaticCopy(area, index, output) ? 1 : 0;
      }
    }
  }
  return shown;
}

/**
 * Once the notebook is loaded and its kernel known, and again whenever its kernel changes or
 * restarts, the explorer outputs whose model that kernel lacks show their copy. Without a
 * session on the server for the notebook (reopened after its kernel ended, or "No Kernel"
 * chosen) no kernel can hold them; with one (the tab reloaded) its kernel is asked once the
 * notebook is connected.
 */
function watchSavedGrids(panel: NotebookPanel): void {
  const sessionContext = panel.sessionContext;
  const check = async (): Promise<void> => {
    await panel.context.ready;
    if (await sessionContext.sessionManager.findByPath(sessionContext.path)) {
      await sessionContext.ready;
    }
    if (panel.isDisposed) {
      return;
    }
    let live: Set<string>;
    try {
      live = await liveWidgetModels(panel);
    } catch (error) {
      console.warn('sqlnb: cannot ask the kernel for its widgets', error);
      return;
    }
    if (!panel.isDisposed) {
      showStaticCopies(panel.content, live);
    }
  };
  void check();
  sessionContext.kernelChanged.connect(() => void check());
  // a restarted kernel keeps its id but holds no widget: look again once it is back
  let restarted = false;
  sessionContext.statusChanged.connect((_context, status) => {
    if (status === 'restarting' || status === 'autorestarting') {
      restarted = true;
    } else if (status === 'idle' && restarted) {
      restarted = false;
      void check();
    }
  });
}

/** The code cell whose outputs hold `target`, with its index, if any. */
function cellOfOutput(notebook: Notebook, target: EventTarget | null): number {
  if (!(target instanceof Node)) {
    return -1;
  }
  return notebook.widgets.findIndex(
    cell => cell.model.type === 'code' && (cell as CodeCell).outputArea.node.contains(target)
  );
}

/** Inserts the event's code as a new code cell below the cell of the output it came from. */
export function insertCellBelowOutput(notebook: Notebook, event: Event): void {
  const detail = (event as CustomEvent<{ code?: unknown } | null>).detail;
  const code = detail?.code;
  const index = cellOfOutput(notebook, event.target);
  if (typeof code !== 'string' || index < 0 || notebook.model === null) {
    return; // not for us: the grid falls back to the clipboard
  }
  event.preventDefault();
  notebook.model.sharedModel.insertCell(index + 1, { cell_type: 'code', source: code });
  notebook.activeCellIndex = index + 1;
  notebook.deselectAll();
  const cell = notebook.widgets[index + 1];
  if (cell !== undefined) {
    void notebook.scrollToCell(cell);
  }
}

/** Both behaviours for one notebook. */
export function watchNotebook(panel: NotebookPanel): void {
  watchSavedGrids(panel);
  const notebook = panel.content;
  notebook.node.addEventListener(INSERT_CELL_EVENT, event => insertCellBelowOutput(notebook, event));
}
