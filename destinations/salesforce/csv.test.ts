import { parseCsv, toCsv } from './csv';

describe('salesforce CSV', () => {
  it('writes RFC 4180 CSV with quoting and reads it back', () => {
    const records = [
      { Ext__c: 'p-1', LastName: 'Doe, Jr.', Note__c: 'said "hi"\nthen left', Count__c: 3 },
      { Ext__c: 'p-2', LastName: 'Plain' },
    ];
    const text = toCsv(['Ext__c', 'LastName', 'Note__c', 'Count__c'], records);
    expect(text).toBe('Ext__c,LastName,Note__c,Count__c\np-1,"Doe, Jr.","said ""hi""\nthen left",3\np-2,Plain,,\n');
    expect(parseCsv(text)).toEqual([
      { Ext__c: 'p-1', LastName: 'Doe, Jr.', Note__c: 'said "hi"\nthen left', Count__c: '3' },
      { Ext__c: 'p-2', LastName: 'Plain', Note__c: '', Count__c: '' },
    ]);
  });

  it('reads CRLF results with a header only as no rows', () => {
    expect(parseCsv('sf__Id,sf__Error,Ext__c\r\n')).toEqual([]);
    expect(parseCsv('"sf__Id","Ext__c"\r\n"003A","p-1"\r\n')).toEqual([{ sf__Id: '003A', Ext__c: 'p-1' }]);
  });
});
