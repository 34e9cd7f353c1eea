
(function(){
var errs=[];
function note(m){errs.push(String(m));document.body.setAttribute('data-errors',errs.join(' | '));}
window.onerror=function(msg,src,line){note(msg+' (line '+line+')');};
function check(){
var charts=document.querySelectorAll('svg.chart');
if(charts.length===0){note('no charts found');}
for(var i=0;i<charts.length;i++){
var c=charts[i];
var box=c.getBoundingClientRect();
if(!(box.width>0&&box.height>0)){note('chart '+c.id+' has no size');}
if(c.getAttribute('data-empty')!=='true'&&!c.querySelector('[data-mark]')){note('chart '+c.id+' has no marks');}
if(!c.querySelector('title')){note('chart '+c.id+' has no title');}
}
document.body.setAttribute('data-charts',String(charts.length));
document.body.dataset.rendered=errs.length?'error':'ok';
}
if(document.readyState==='loading'){document.addEventListener('DOMContentLoaded',check);}else{check();}
})();
