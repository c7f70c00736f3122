/**
 * The "Format SQL" command: rewrites the body of the `%%sql` cell under the cursor with its SQL
 * formatted in the engine's dialect. The kernel formats it (sqlnb's `format_cell`, asked in an
 * execute request's user_expressions, so nothing is printed or stored in the history): it knows
 * the cell's database and dialect, keeps comments, and leaves a statement it cannot read as it
 * is, with a note. The cell's first line (the magic and its options) is never changed.
 */

import type { JupyterFrontEnd } from '@jupyterlab/application';
import { Notification } from '@jupyterlab/apputils';
import type { INotebookTracker } from '@jupyterlab/notebook';

export const FORMAT_COMMAND = 'sqlnb:format-sql';

/** `%%sql` alone or followed by a space on the cell's first line that is not blank. */
const CELL_MAGIC = /^\s*%%sql(?=\s|$)/;

/** What the kernel answers (sqlnb.ipython.magics.format_cell). */
interface IFormatReply {
  source?: string;
  notes?: string[];
  error?: string;
}

/** The Python expression that asks the kernel to format `source`. */
export function formatExpression(source: string): string {
  // a JSON string is a Python str literal too
  return `__import__('sqlnb.ipython.magics', fromlist=['format_cell']).format_cell(${JSON.stringify(source)})`;
}

/** Whether `source` is a `%%sql` cell. */
export function isSqlCell(source: string): boolean {
  const first = source.split('\n').find(line => line.trim() !== '');
  return first !== undefined && CELL_MAGIC.test(first);
}

async function formatActiveCell(tracker: INotebookTracker): Promise<void> {
  const panel = tracker.currentWidget;
  const cell = panel?.content.activeCell;
  if (!panel || !cell || cell.model.type !== 'code') {
    return;
  }
  const source = cell.model.sharedModel.getSource();
  if (!isSqlCell(source)) {
    Notification.info('Format SQL formats a %%sql cell', { autoClose: 3000 });
    return;
  }
  const kernel = panel.sessionContext.session?.kernel;
  if (!kernel) {
    Notification.warning('Format SQL needs a running kernel', { autoClose: 3000 });
    return;
  }
  const future = kernel.requestExecute({
    code: '',
    silent: true,
    store_history: false,
    user_expressions: { sqlnb: formatExpression(source) }
  });
  const reply = await future.done;
  const content = reply.content as {
    status: string;
    user_expressions?: Record<string, { status: string; data?: Record<string, string> }>;
  };
  const answer = content.user_expressions?.sqlnb;
  const text = answer?.status === 'ok' ? answer.data?.['text/plain'] : undefined;
  if (text === undefined) {
    Notification.error('Format SQL: the kernel could not format the cell (is sqlnb loaded?)');
    return;
  }
  const result = JSON.parse(text) as IFormatReply;
  if (result.error) {
    Notification.warning(result.error, { autoClose: 5000 });
    return;
  }
  // the cell may have changed while the kernel worked: then leave it alone
  if (result.source !== undefined && cell.model.sharedModel.getSource() === source) {
    cell.model.sharedModel.setSource(result.source);
  }
  for (const note of result.notes ?? []) {
    Notification.warning(note, { autoClose: 5000 });
  }
}

/** Register the command, its keyboard shortcut and its place in the command palette. */
export function addFormatCommand(app: JupyterFrontEnd, tracker: INotebookTracker): void {
  app.commands.addCommand(FORMAT_COMMAND, {
    label: 'Format SQL',
    caption: 'Format the SQL of the %%sql cell in the engine\'s dialect (sqlnb)',
    isEnabled: () => tracker.currentWidget?.content.activeCell?.model.type === 'code',
    execute: () => formatActiveCell(tracker)
  });
  app.commands.addKeyBinding({
    command: FORMAT_COMMAND,
    keys: ['Alt Shift F'],
    selector: '.jp-Notebook'
  });
}
