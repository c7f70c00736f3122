/**
 * sqlnb's JupyterLab 4 / Notebook 7 plugins: SQL syntax highlighting in `%%sql` cells and after
 * `%sql` on a line, in the editors of (I)Python code; and a "Format SQL" command (Alt+Shift+F)
 * that formats the `%%sql` cell under the cursor (format.ts); and, for the result explorer,
 * a saved grid's static copy where its widget is gone and "copy the SQL as a new cell"
 * (explorer.ts).
 *
 * Each editor gets an extension that, while the editor's mime type is (I)Python, puts in place
 * of JupyterLab's Python language the same language with the magics' SQL parsed as SQLite
 * (see magics.ts). Both languages come from JupyterLab's language registry, so this plugin
 * bundles no parser of its own.
 */

import type { JupyterFrontEnd, JupyterFrontEndPlugin } from '@jupyterlab/application';
import type { CodeEditor } from '@jupyterlab/codeeditor';
import {
  EditorExtensionRegistry,
  IEditorExtensionRegistry,
  IEditorLanguageRegistry
} from '@jupyterlab/codemirror';
import { LRLanguage } from '@codemirror/language';
import type { Extension } from '@codemirror/state';
import { Compartment, Prec } from '@codemirror/state';
import type { EditorView, PluginValue } from '@codemirror/view';
import { ViewPlugin } from '@codemirror/view';

import { INotebookTracker } from '@jupyterlab/notebook';

import { watchNotebook } from './explorer';
import { addFormatCommand } from './format';
import { withSqlMagics } from './magics';

const PYTHON_MIME_TYPES = new Set(['text/x-ipython', 'text/x-python']);
const SQL_LANGUAGE = 'SQLite';

/** The Python language with SQL magics for each mime type, made once. */
const cache = new Map<string, Promise<LRLanguage | null>>();

async function makeLanguage(
  languages: IEditorLanguageRegistry,
  mimeType: string
): Promise<LRLanguage | null> {
  const spec = languages.findByMIME(mimeType);
  const python = spec && (await languages.getLanguage(spec));
  const sql = await languages.getLanguage(SQL_LANGUAGE);
  const base = python?.support?.language;
  const sqlBase = sql?.support?.language;
  if (!(base instanceof LRLanguage) || !(sqlBase instanceof LRLanguage)) {
    console.warn(`sqlnb-highlight: no Lezer parser for ${mimeType} or ${SQL_LANGUAGE}`);
    return null;
  }
  return withSqlMagics(base, sqlBase.parser);
}

function languageFor(
  languages: IEditorLanguageRegistry,
  mimeType: string
): Promise<LRLanguage | null> {
  if (!PYTHON_MIME_TYPES.has(mimeType)) {
    return Promise.resolve(null);
  }
  let language = cache.get(mimeType);
  if (language === undefined) {
    language = makeLanguage(languages, mimeType);
    cache.set(mimeType, language);
  }
  return language;
}

/**
 * Keeps one editor's SQL-magics language in step with its model's mime type: set while the
 * mime type is (I)Python, removed otherwise.
 */
class MagicsSwitch implements PluginValue {
  private generation = 0;
  private current: LRLanguage | null = null;

  constructor(
    private readonly view: EditorView,
    private readonly model: CodeEditor.IModel,
    private readonly languages: IEditorLanguageRegistry,
    private readonly slot: Compartment
  ) {
    model.mimeTypeChanged.connect(this.apply, this);
    this.apply();
  }

  destroy(): void {
    this.generation = -1;
    this.model.mimeTypeChanged.disconnect(this.apply, this);
  }

  private apply(): void {
    const generation = ++this.generation;
    void languageFor(this.languages, this.model.mimeType).then(language => {
      if (generation !== this.generation || language === this.current) {
        return; // destroyed, the mime type changed again meanwhile, or nothing to change
      }
      this.current = language;
      // higher precedence than the editor's own language, whose place it takes
      const extension = language === null ? [] : Prec.high(language.extension);
      this.view.dispatch({ effects: this.slot.reconfigure(extension) });
    });
  }
}

function sqlMagics(model: CodeEditor.IModel, languages: IEditorLanguageRegistry): Extension {
  const slot = new Compartment();
  return [
    slot.of([]),
    ViewPlugin.define(view => new MagicsSwitch(view, model, languages, slot))
  ];
}

const plugin: JupyterFrontEndPlugin<void> = {
  id: 'sqlnb-highlight:plugin',
  description: 'SQL syntax highlighting in %%sql cells and after %sql.',
  autoStart: true,
  requires: [IEditorExtensionRegistry, IEditorLanguageRegistry],
  activate: (
    _app: JupyterFrontEnd,
    extensions: IEditorExtensionRegistry,
    languages: IEditorLanguageRegistry
  ): void => {
    extensions.addExtension({
      name: 'sqlnb-highlight:sql-magics',
      factory: ({ model }) =>
        EditorExtensionRegistry.createImmutableExtension(sqlMagics(model, languages))
    });
  }
};

const formatPlugin: JupyterFrontEndPlugin<void> = {
  id: 'sqlnb-highlight:format',
  description: 'A "Format SQL" command for the %%sql cell under the cursor.',
  autoStart: true,
  requires: [INotebookTracker],
  activate: (app: JupyterFrontEnd, tracker: INotebookTracker): void => {
    addFormatCommand(app, tracker);
  }
};

const explorerPlugin: JupyterFrontEndPlugin<void> = {
  id: 'sqlnb-highlight:explorer',
  description:
    "The result explorer's static copy where its widget is gone, and its SQL as a new cell.",
  autoStart: true,
  requires: [INotebookTracker],
  activate: (_app: JupyterFrontEnd, tracker: INotebookTracker): void => {
    tracker.forEach(watchNotebook);
    tracker.widgetAdded.connect((_tracker, panel) => watchNotebook(panel));
  }
};

export default [plugin, formatPlugin, explorerPlugin];
